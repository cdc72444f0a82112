"""Hand-worked examples: each expected output was computed by hand from the task's rule text.

Every case is checked twice: the plain reference rule on the list, and the vectorised rule (the
one the generator uses) on the array in the task's stored layout.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from interplab.mips.tasks import get_task

CASES: list[tuple[str, list[Any], list[Any]]] = [
    # LSB first: 1+1 = 10b -> 0 carry 1; 0+1+1 -> 0 carry 1; 0+0+1 -> 1.
    ("Binary_Addition", [(1, 1), (0, 1), (0, 0)], [0, 0, 1]),
    # 2+2 = 4 -> 1 carry 1; 1+0+1 = 2 -> 2 carry 0; 2+2 = 4 -> 1, final carry dropped.
    ("Base_3_Addition", [(2, 2), (1, 0), (2, 2)], [1, 2, 1]),
    ("Base_7_Addition", [(6, 6), (6, 0), (0, 0)], [5, 0, 1]),  # 12 -> 5 c1; 7 -> 0 c1; 1
    ("Bitwise_Xor", [(0, 0), (0, 1), (1, 0), (1, 1)], [0, 1, 1, 0]),
    ("Bitwise_Or", [(0, 0), (0, 1), (1, 0), (1, 1)], [0, 1, 1, 1]),
    ("Bitwise_And", [(0, 0), (0, 1), (1, 0), (1, 1)], [0, 0, 0, 1]),
    ("Bitwise_Not", [0, 1, 1], [1, 0, 0]),
    # windows: [1], [1,1], [1,1,0], [1,0,1], [0,1,0], [1,0,0]
    ("Parity_Last3", [1, 1, 0, 1, 0, 0], [1, 0, 0, 0, 1, 1]),
    ("Parity_Last2", [1, 0, 0, 1], [1, 1, 0, 1]),
    ("Parity_All", [1, 1, 1, 0], [1, 0, 1, 1]),
    ("Parity_Zeros", [0, 1, 0, 0], [1, 1, 0, 1]),  # zeros so far: 1, 1, 2, 3
    ("Evens_Counter", [2, 3, 0, 7, 8], [1, 1, 2, 2, 3]),
    ("Sum_All", [99, 1, 0], [99, 100, 100]),
    ("Sum_Last3", [10, 20, 30, 40], [10, 30, 60, 90]),
    ("Current_Number", [42, 0], [42, 0]),
    ("Prev2", [5, 6, 7, 8], [0, 0, 5, 6]),
    ("Previous_Equals_Current", [0, 3, 3, 1], [1, 0, 1, 0]),  # x_(-1) = 0 matches x_0 = 0
    ("Diff_Last2", [-5, 10, 3], [-5, 15, -7]),
    ("Abs_Diff", [-5, 10, 3], [5, 15, 7]),
    ("Abs_Current", [-100, 99, 0], [100, 99, 0]),
    ("Diff_Abs_Values", [-5, 10, -3], [5, 5, -7]),
    ("Min_Seen", [5, 7, 3, 9], [5, 5, 3, 3]),
    ("Max_Seen", [5, 7, 3, 9], [5, 7, 7, 9]),
    ("Majority_0_1", [1, 0, 0], [1, 0, 0]),  # tie after two symbols goes to 0
    # counts {2:1}; {1:1,2:1} tie -> 1; 1 leads; {1:2,2:2} tie -> 1; tie stays 1; {2:3} -> 2
    ("Majority_0_2", [2, 1, 1, 2, 0, 2], [2, 1, 1, 1, 1, 2]),
    ("Majority_0_3", [3, 3, 0, 0], [3, 3, 3, 0]),
    ("Evens_Detector", [0, 1, 8], [1, 0, 1]),
    ("Perfect_Square_Detector", [0, 2, 4, 9, 15, 16, 19], [1, 0, 1, 1, 0, 1, 0]),
    ("Bit_Palindrome", [1, 0, 1, 1], [1, 0, 1, 0]),  # "1", "10", "101", "1011"
    ("Balanced_Parenthesis", [0, 0, 1, 1], [0, 0, 0, 1]),  # depths 1, 2, 1, 0
    ("Balanced_Parenthesis", [0, 1, 1, 0, 0, 1], [0, 1, 0, 0, 0, 0]),  # dips to -1 at t=2
    ("Parity_Bits_Mod2", [1, 1, 1, 1, 1], [0, 1, 0, 1, 0]),
    # zero-padded windows: 001, 010, 101, 011, 110, 101, 010
    ("Alternating_Last3", [1, 0, 1, 1, 0, 1, 0], [0, 1, 1, 0, 0, 1, 1]),
    # zero-padded windows: 0001, 0010, 0101, 1010, 0100
    ("Alternating_Last4", [1, 0, 1, 0, 0], [0, 0, 1, 1, 0]),
    ("Bit_Shift_Right", [1, 0, 1], [0, 1, 0]),
    ("Bit_Dot_Prod_Mod2", [(1, 1), (1, 0), (1, 1), (0, 1)], [1, 1, 0, 0]),
    ("Div_3", [1, 0, 1, 0], [0, 0, 1, 1]),  # 1010b = 10, 10 // 3 = 3 = 0011b
    ("Div_5", [1, 1, 1, 1], [0, 0, 1, 1]),  # 15 // 5 = 3
    ("Div_7", [1, 1, 1, 1], [0, 0, 1, 0]),  # 15 // 7 = 2
    ("Add_Mod_3", [2, 2, 1, 0], [2, 1, 2, 2]),
    ("Add_Mod_8", [7, 7, 2], [7, 6, 0]),
    # running sums 7, 15, 30, 31, 45 -> floor(/15) 0, 1, 2, 2, 3
    ("Dithering", [7, 8, 15, 1, 14], [0, 1, 1, 0, 1]),
    ("Newton_Freebody", [1, 0, 0, 2], [1, 2, 3, 6]),  # v 1, 1, 1, 3
    ("Newton_Gravity", [1, 1, 0], [0, 0, -1]),  # a 0, 0, -1
    # a = x - p_prev: a 1 (v 1, p 1); a -1 (v 0, p 1); a -1 (v -1, p 0); a 0 (v -1, p -1)
    ("Newton_Spring", [1, 0, 0, 0], [1, 1, 0, -1]),
    # a (1, 0) v (1, 0); a (0, 0 + 1) v (1, 1); a (0 - 1, 0 + 1) v (0, 2)
    ("Newton_Magnetic", [(1, 0), (0, 0), (0, 0)], [(1, 0), (2, 1), (2, 3)]),
]


@pytest.mark.parametrize(("name", "seq", "expected"), CASES)
def test_hand_worked_example(name: str, seq: list[Any], expected: list[Any]) -> None:
    task = get_task(name)
    assert task.rule(seq) == expected
    spec = task.spec
    inputs = np.array(seq, dtype=spec.x_dtype).reshape(1, *spec.x_shape_at(len(seq)))
    outputs = task.compute_outputs(inputs)
    assert outputs.dtype == np.dtype(spec.y_dtype)
    np.testing.assert_array_equal(
        outputs, np.array(expected).reshape(1, *spec.y_shape_at(len(seq)))
    )


def test_hand_worked_examples_cover_every_task_family() -> None:
    assert len({name for name, _, _ in CASES}) >= 40


def test_the_rules_match_the_arithmetic_they_describe() -> None:
    # Base-k addition equals integer addition mod k**L; Div_k equals floor division.
    rng = np.random.default_rng(0)
    for k in (2, 5):
        task = get_task("Binary_Addition" if k == 2 else f"Base_{k}_Addition")
        for a_digits, b_digits in rng.integers(0, k, size=(50, 2, 6)).tolist():
            pairs = list(zip(a_digits, b_digits, strict=True))
            total = sum((a + b) * k**i for i, (a, b) in enumerate(pairs))
            out = task.rule(pairs)
            assert sum(d * k**i for i, d in enumerate(out)) == total % k**6
    for k in (3, 5, 7):
        for bits in rng.integers(0, 2, size=(50, 8)).tolist():
            number = int("".join(map(str, bits)), 2)
            quotient = get_task(f"Div_{k}").rule(bits)
            assert int("".join(map(str, quotient)), 2) == number // k
