"""The 62 tasks by name: each spec joined with its plain rule and its vectorised rule."""

from __future__ import annotations

import difflib
from functools import partial
from typing import Any

from interplab.core.errors import ConfigError

from . import _rules_arithmetic as arith
from . import _rules_bits as bits
from . import _rules_physics as physics
from . import _rules_values as values
from ._catalog import SPECS
from ._spec import TaskSpec
from ._task import BoundsFn, Task
from ._types import Rule, VectorRule, lift_scalar

__all__ = ["all_tasks", "get_task", "list_tasks"]


def _grows_per_step(per_step: int, spec: TaskSpec, rule: Rule, length: int) -> tuple[int, int]:
    """Bounds of a running count or sum whose top grows by ``per_step`` a position."""
    return 0, per_step * length


def _flatten(values: list[Any]) -> list[int]:
    """A rule's outputs (ints, or tuples of ints) as one flat list of ints."""
    return [v for value in values for v in (value if isinstance(value, tuple) else (value,))]


def _affine_bounds(spec: TaskSpec, rule: Rule, length: int) -> tuple[int, int]:
    """Exact output extremes of an affine rule ``y = A x + b`` over the input box.

    Runs the plain rule (Python ints, so nothing overflows at any length) on the all-``input_min``
    sequence and on each unit step from it, which reads off ``b`` and the columns of ``A``; each
    output is extreme where every input sits at the end of its range its coefficient favours.
    """
    dims = spec.input_dims
    n_inputs = length * dims

    def run(flat: list[int]) -> list[int]:
        if dims == 1:
            return _flatten(rule(flat))
        return _flatten(rule([tuple(flat[i : i + dims]) for i in range(0, n_inputs, dims)]))

    start = [spec.input_min] * n_inputs
    offset = run(start)
    low, high = list(offset), list(offset)
    span = spec.input_max - spec.input_min
    for j in range(n_inputs):
        stepped = run([*start[:j], start[j] + 1, *start[j + 1 :]])
        for i, (y, y0) in enumerate(zip(stepped, offset, strict=True)):
            low[i] += span * min(y - y0, 0)
            high[i] += span * max(y - y0, 0)
    return min(low), max(high)


def _entries() -> dict[str, tuple[Rule, VectorRule, BoundsFn | None]]:
    """Plain rule, vectorised rule on ``(N, L, d_in)`` and (if not the spec's range) bounds."""
    s = lift_scalar
    table: dict[str, tuple[Rule, VectorRule, BoundsFn | None]] = {
        "Binary_Addition": (arith.base_addition(2), arith.base_addition_vec(2), None),
        "Bitwise_Xor": (bits.bitwise_xor, bits.bitwise_xor_vec, None),
        "Bitwise_Or": (bits.bitwise_or, bits.bitwise_or_vec, None),
        "Bitwise_And": (bits.bitwise_and, bits.bitwise_and_vec, None),
        "Bitwise_Not": (bits.bitwise_not, s(bits.bitwise_not_vec), None),
        "Parity_All": (bits.parity_all, s(bits.parity_all_vec), None),
        "Parity_Zeros": (bits.parity_zeros, s(bits.parity_zeros_vec), None),
        "Evens_Counter": (
            arith.evens_counter,
            s(arith.evens_counter_vec),
            partial(_grows_per_step, 1),
        ),
        "Sum_All": (arith.sum_all, s(arith.sum_all_vec), partial(_grows_per_step, 99)),
        "Current_Number": (values.current_number, s(values.current_number_vec), None),
        "Previous_Equals_Current": (
            values.previous_equals_current,
            s(values.previous_equals_current_vec),
            None,
        ),
        "Diff_Last2": (values.diff_last2, s(values.diff_last2_vec), None),
        "Abs_Diff": (values.abs_diff, s(values.abs_diff_vec), None),
        "Abs_Current": (values.abs_current, s(values.abs_current_vec), None),
        "Diff_Abs_Values": (values.diff_abs_values, s(values.diff_abs_values_vec), None),
        "Min_Seen": (values.min_seen, s(values.min_seen_vec), None),
        "Max_Seen": (values.max_seen, s(values.max_seen_vec), None),
        "Evens_Detector": (values.evens_detector, s(values.evens_detector_vec), None),
        "Perfect_Square_Detector": (
            values.perfect_square_detector,
            s(values.perfect_square_detector_vec),
            None,
        ),
        "Bit_Palindrome": (bits.bit_palindrome, s(bits.bit_palindrome_vec), None),
        "Balanced_Parenthesis": (
            bits.balanced_parenthesis,
            s(bits.balanced_parenthesis_vec),
            None,
        ),
        "Parity_Bits_Mod2": (bits.parity_bits_mod2, s(bits.parity_bits_mod2_vec), None),
        "Bit_Shift_Right": (bits.bit_shift_right, s(bits.bit_shift_right_vec), None),
        "Bit_Dot_Prod_Mod2": (bits.bit_dot_prod_mod2, bits.bit_dot_prod_mod2_vec, None),
        "Dithering": (arith.dithering, s(arith.dithering_vec), None),
        "Newton_Freebody": (
            physics.newton_freebody,
            s(physics.newton_freebody_vec),
            _affine_bounds,
        ),
        "Newton_Gravity": (physics.newton_gravity, s(physics.newton_gravity_vec), _affine_bounds),
        "Newton_Spring": (physics.newton_spring, s(physics.newton_spring_vec), _affine_bounds),
        "Newton_Magnetic": (physics.newton_magnetic, physics.newton_magnetic_vec, _affine_bounds),
    }
    for k in range(3, 8):
        table[f"Base_{k}_Addition"] = (arith.base_addition(k), arith.base_addition_vec(k), None)
    for k in (2, 3, 4):
        table[f"Parity_Last{k}"] = (bits.parity_last(k), s(bits.parity_last_vec(k)), None)
    for k in range(2, 8):
        table[f"Sum_Last{k}"] = (arith.sum_last(k), s(arith.sum_last_vec(k)), None)
    for k in range(1, 6):
        table[f"Prev{k}"] = (values.prev(k), s(values.prev_vec(k)), None)
    for k in (1, 2, 3):
        table[f"Majority_0_{k}"] = (values.majority(k), s(values.majority_vec(k)), None)
    for k in (3, 4):
        table[f"Alternating_Last{k}"] = (
            bits.alternating_last(k),
            s(bits.alternating_last_vec(k)),
            None,
        )
    for k in (3, 5, 7):
        table[f"Div_{k}"] = (arith.divide(k), s(arith.divide_vec(k)), None)
    for k in range(3, 9):
        table[f"Add_Mod_{k}"] = (arith.add_mod(k), s(arith.add_mod_vec(k)), None)
    return table


def _build() -> tuple[Task, ...]:
    entries = _entries()
    missing = [spec.name for spec in SPECS if spec.name not in entries]
    extra = sorted(set(entries) - {spec.name for spec in SPECS})
    if missing or extra:  # pragma: no cover - a programming error caught by the tests
        raise RuntimeError(f"task rules out of sync with specs: missing {missing}, extra {extra}")
    return tuple(Task(spec, *entries[spec.name]) for spec in SPECS)


_TASKS: tuple[Task, ...] = _build()
_BY_KEY: dict[str, Task] = {task.name.lower(): task for task in _TASKS}


def all_tasks() -> tuple[Task, ...]:
    """All 62 tasks in index order."""
    return _TASKS


def list_tasks() -> list[str]:
    """The 62 task names in index order (the paper's Table 1 order, per ``gpt4/prompt_all.py``)."""
    return [task.name for task in _TASKS]


def get_task(name: str) -> Task:
    """Look a task up by name, ignoring case (``"binary_addition"`` finds Binary_Addition).

    Args:
        name: a name from :func:`list_tasks`.

    Returns:
        The task.

    Raises:
        ConfigError: no task has that name; the message suggests close names.
    """
    if not isinstance(name, str):
        raise ConfigError(f"Task name {name!r} is not a string; pass one of list_tasks().")
    task = _BY_KEY.get(name.strip().lower())
    if task is not None:
        return task
    close = difflib.get_close_matches(name.strip().lower(), list(_BY_KEY), n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(_BY_KEY[c].name) for c in close)}?" if close else ""
    raise ConfigError(
        f"No MIPS task is named {name!r}.{hint} `interplab mips tasks` (or list_tasks()) lists "
        f"all {len(_TASKS)}."
    )
