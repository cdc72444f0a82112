"""Rules of the bit tasks: bitwise maps, parities, shifts, patterns, palindromes, brackets.

Each task has a plain reference rule on one sequence (lists of ints, or of ``(a, b)`` pairs for
two-stream tasks) and a vectorised twin on int64 arrays: ``(N, L)`` for one stream, ``(N, L, 2)``
for two. Positions before 0 count as 0 wherever the task looks back.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._types import IntArray, Rule, ScalarVectorRule, as_int64, shift_right, window_sum

__all__ = [
    "alternating_last",
    "alternating_last_vec",
    "balanced_parenthesis",
    "balanced_parenthesis_vec",
    "bit_dot_prod_mod2",
    "bit_dot_prod_mod2_vec",
    "bit_palindrome",
    "bit_palindrome_vec",
    "bit_shift_right",
    "bit_shift_right_vec",
    "bitwise_and",
    "bitwise_and_vec",
    "bitwise_not",
    "bitwise_not_vec",
    "bitwise_or",
    "bitwise_or_vec",
    "bitwise_xor",
    "bitwise_xor_vec",
    "parity_all",
    "parity_all_vec",
    "parity_bits_mod2",
    "parity_bits_mod2_vec",
    "parity_last",
    "parity_last_vec",
    "parity_zeros",
    "parity_zeros_vec",
]


def bitwise_xor(seq: Sequence[tuple[int, int]]) -> list[int]:
    """Bitwise_Xor: ``y_t = a_t XOR b_t``."""
    return [a ^ b for a, b in seq]


def bitwise_or(seq: Sequence[tuple[int, int]]) -> list[int]:
    """Bitwise_Or: ``y_t = a_t OR b_t``."""
    return [a | b for a, b in seq]


def bitwise_and(seq: Sequence[tuple[int, int]]) -> list[int]:
    """Bitwise_And: ``y_t = a_t AND b_t``."""
    return [a & b for a, b in seq]


def bitwise_not(seq: Sequence[int]) -> list[int]:
    """Bitwise_Not: ``y_t = 1 - x_t``."""
    return [1 - x for x in seq]


def parity_last(k: int) -> Rule:
    """Parity_Last{k}: ``y_t = (x_(t-k+1) + ... + x_t) mod 2``, bits before position 0 are 0."""

    def rule(seq: Sequence[int]) -> list[int]:
        return [sum(seq[max(0, t - k + 1) : t + 1]) % 2 for t in range(len(seq))]

    rule.__name__ = rule.__qualname__ = f"parity_last{k}"
    rule.__doc__ = f"Parity_Last{k}: parity of the last {k} bits (window truncated at 0)."
    return rule


def parity_all(seq: Sequence[int]) -> list[int]:
    """Parity_All: ``y_t = (x_0 + ... + x_t) mod 2``."""
    out, total = [], 0
    for x in seq:
        total += x
        out.append(total % 2)
    return out


def parity_zeros(seq: Sequence[int]) -> list[int]:
    """Parity_Zeros: ``y_t = (number of i <= t with x_i = 0) mod 2``."""
    out, zeros = [], 0
    for x in seq:
        zeros += x == 0
        out.append(zeros % 2)
    return out


def bit_palindrome(seq: Sequence[int]) -> list[int]:
    """Bit_Palindrome: ``y_t = 1`` iff ``(x_0, ..., x_t)`` equals its reverse."""
    out = []
    for t in range(len(seq)):
        prefix = list(seq[: t + 1])
        out.append(int(prefix == prefix[::-1]))
    return out


def balanced_parenthesis(seq: Sequence[int]) -> list[int]:
    """Balanced_Parenthesis: 0 is ``(``, 1 is ``)``; 1 iff depth is 0 and never went negative."""
    out, depth, has_dipped = [], 0, False
    for x in seq:
        depth += 1 if x == 0 else -1
        has_dipped = has_dipped or depth < 0
        out.append(int(depth == 0 and not has_dipped))
    return out


def parity_bits_mod2(seq: Sequence[int]) -> list[int]:
    """Parity_Bits_Mod2: ``y_t = t mod 2`` (0-based), whatever the input."""
    return [t % 2 for t in range(len(seq))]


def alternating_last(k: int) -> Rule:
    """Alternating_Last{k}: 1 iff the last ``k`` bits alternate; bits before 0 are 0."""
    patterns = {tuple((i + s) % 2 for i in range(k)) for s in (0, 1)}

    def rule(seq: Sequence[int]) -> list[int]:
        padded = [0] * (k - 1) + list(seq)
        return [int(tuple(padded[t : t + k]) in patterns) for t in range(len(seq))]

    rule.__name__ = rule.__qualname__ = f"alternating_last{k}"
    rule.__doc__ = f"Alternating_Last{k}: 1 iff the last {k} bits (zero-padded) alternate."
    return rule


def bit_shift_right(seq: Sequence[int]) -> list[int]:
    """Bit_Shift_Right: ``y_0 = 0``, ``y_t = x_(t-1)``."""
    return [0, *seq[:-1]] if len(seq) else []


def bit_dot_prod_mod2(seq: Sequence[tuple[int, int]]) -> list[int]:
    """Bit_Dot_Prod_Mod2: ``y_t = (a_0 b_0 + ... + a_t b_t) mod 2``."""
    out, total = [], 0
    for a, b in seq:
        total += a * b
        out.append(total % 2)
    return out


# --- vectorised twins ----------------------------------------------------------------------


def bitwise_xor_vec(x: IntArray) -> IntArray:
    """``(N, L, 2) -> (N, L, 1)``: XOR of the two streams."""
    return x[..., :1] ^ x[..., 1:]


def bitwise_or_vec(x: IntArray) -> IntArray:
    """``(N, L, 2) -> (N, L, 1)``: OR of the two streams."""
    return x[..., :1] | x[..., 1:]


def bitwise_and_vec(x: IntArray) -> IntArray:
    """``(N, L, 2) -> (N, L, 1)``: AND of the two streams."""
    return x[..., :1] & x[..., 1:]


def bitwise_not_vec(x: IntArray) -> IntArray:
    """``(N, L) -> (N, L)``: ``1 - x``."""
    return 1 - x


def parity_last_vec(k: int) -> ScalarVectorRule:
    """``(N, L) -> (N, L)`` Parity_Last{k}."""

    def rule(x: IntArray) -> IntArray:
        return window_sum(x, k) % 2

    rule.__name__ = rule.__qualname__ = f"parity_last{k}_vec"
    return rule


def parity_all_vec(x: IntArray) -> IntArray:
    """``(N, L) -> (N, L)``: running parity."""
    return np.cumsum(x, axis=1) % 2


def parity_zeros_vec(x: IntArray) -> IntArray:
    """``(N, L) -> (N, L)``: running parity of the count of zeros."""
    return np.cumsum(x == 0, axis=1, dtype=np.int64) % 2


def bit_palindrome_vec(x: IntArray) -> IntArray:
    """``(N, L) -> (N, L)``: 1 where the prefix up to t is a palindrome."""
    out = np.empty_like(x)
    for t in range(x.shape[1]):
        out[:, t] = np.all(x[:, : t + 1] == x[:, t::-1], axis=1)
    return out


def balanced_parenthesis_vec(x: IntArray) -> IntArray:
    """``(N, L) -> (N, L)``: 1 where depth is 0 and has never been negative."""
    depth = np.cumsum(1 - 2 * x, axis=1)
    has_dipped = np.minimum.accumulate(depth, axis=1) < 0
    return as_int64((depth == 0) & ~has_dipped)


def parity_bits_mod2_vec(x: IntArray) -> IntArray:
    """``(N, L) -> (N, L)``: ``t mod 2`` in every row."""
    return np.broadcast_to(np.arange(x.shape[1], dtype=np.int64) % 2, x.shape).copy()


def alternating_last_vec(k: int) -> ScalarVectorRule:
    """``(N, L) -> (N, L)`` Alternating_Last{k}."""

    def rule(x: IntArray) -> IntArray:
        padded = np.concatenate([np.zeros((x.shape[0], k - 1), np.int64), x], axis=1)
        is_alternating = np.ones(x.shape, dtype=bool)
        for j in range(k - 1):  # every adjacent pair in the window differs
            is_alternating &= padded[:, j : j + x.shape[1]] != padded[:, j + 1 : j + 1 + x.shape[1]]
        return is_alternating.astype(np.int64)

    rule.__name__ = rule.__qualname__ = f"alternating_last{k}_vec"
    return rule


def bit_shift_right_vec(x: IntArray) -> IntArray:
    """``(N, L) -> (N, L)``: delay by one, first output 0."""
    return shift_right(x, 1)


def bit_dot_prod_mod2_vec(x: IntArray) -> IntArray:
    """``(N, L, 2) -> (N, L, 1)``: running dot product mod 2."""
    return np.cumsum(x[..., :1] * x[..., 1:], axis=1) % 2
