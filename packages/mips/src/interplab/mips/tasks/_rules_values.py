"""Rules of the integer-stream tasks.

Echo and delays, differences and absolute values, running extrema and mode, and per-position
detectors. Each task has a plain reference rule on one sequence (a list of ints) and a
vectorised twin on int64 ``(N, L)`` arrays. ``x_(-1)`` is 0 wherever a task looks one step back.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._types import IntArray, Rule, ScalarVectorRule, as_int64, shift_right

__all__ = [
    "PERFECT_SQUARES",
    "abs_current",
    "abs_current_vec",
    "abs_diff",
    "abs_diff_vec",
    "current_number",
    "current_number_vec",
    "diff_abs_values",
    "diff_abs_values_vec",
    "diff_last2",
    "diff_last2_vec",
    "evens_detector",
    "evens_detector_vec",
    "majority",
    "majority_vec",
    "max_seen",
    "max_seen_vec",
    "min_seen",
    "min_seen_vec",
    "perfect_square_detector",
    "perfect_square_detector_vec",
    "prev",
    "prev_vec",
    "previous_equals_current",
    "previous_equals_current_vec",
]

PERFECT_SQUARES = (0, 1, 4, 9, 16)
"""The perfect squares in Perfect_Square_Detector's alphabet 0..19."""


def current_number(seq: Sequence[int]) -> list[int]:
    """Current_Number: ``y_t = x_t``."""
    return list(seq)


def prev(k: int) -> Rule:
    """Prev{k}: ``y_t = x_(t-k)`` if ``t >= k``, else 0."""

    def rule(seq: Sequence[int]) -> list[int]:
        return [seq[t - k] if t >= k else 0 for t in range(len(seq))]

    rule.__name__ = rule.__qualname__ = f"prev{k}"
    rule.__doc__ = f"Prev{k}: the value {k} step(s) earlier; the first {k} outputs are 0."
    return rule


def previous_equals_current(seq: Sequence[int]) -> list[int]:
    """Previous_Equals_Current: ``y_t = 1`` iff ``x_t == x_(t-1)``, with ``x_(-1) = 0``."""
    previous = [0, *seq[:-1]]
    return [int(x == p) for x, p in zip(seq, previous, strict=True)]


def diff_last2(seq: Sequence[int]) -> list[int]:
    """Diff_Last2: ``y_t = x_t - x_(t-1)``, with ``x_(-1) = 0``."""
    previous = [0, *seq[:-1]]
    return [x - p for x, p in zip(seq, previous, strict=True)]


def abs_diff(seq: Sequence[int]) -> list[int]:
    """Abs_Diff: ``y_t = |x_t - x_(t-1)|``, with ``x_(-1) = 0``."""
    previous = [0, *seq[:-1]]
    return [abs(x - p) for x, p in zip(seq, previous, strict=True)]


def abs_current(seq: Sequence[int]) -> list[int]:
    """Abs_Current: ``y_t = |x_t|``."""
    return [abs(x) for x in seq]


def diff_abs_values(seq: Sequence[int]) -> list[int]:
    """Diff_Abs_Values: ``y_t = |x_t| - |x_(t-1)|``, with ``x_(-1) = 0``."""
    previous = [0, *seq[:-1]]
    return [abs(x) - abs(p) for x, p in zip(seq, previous, strict=True)]


def min_seen(seq: Sequence[int]) -> list[int]:
    """Min_Seen: ``y_t = min(x_0, ..., x_t)``."""
    return [min(seq[: t + 1]) for t in range(len(seq))]


def max_seen(seq: Sequence[int]) -> list[int]:
    """Max_Seen: ``y_t = max(x_0, ..., x_t)``."""
    return [max(seq[: t + 1]) for t in range(len(seq))]


def majority(k: int) -> Rule:
    """Majority_0_{k}: most frequent symbol so far; ties go to the smallest symbol seen."""

    def rule(seq: Sequence[int]) -> list[int]:
        out, counts = [], [0] * (k + 1)
        for x in seq:
            counts[x] += 1
            top = max(counts)
            out.append(min(v for v in range(k + 1) if counts[v] > 0 and counts[v] == top))
        return out

    rule.__name__ = rule.__qualname__ = f"majority_0_{k}"
    rule.__doc__ = f"Majority_0_{k}: running mode over 0..{k}, ties to the smallest seen symbol."
    return rule


def evens_detector(seq: Sequence[int]) -> list[int]:
    """Evens_Detector: ``y_t = 1`` iff ``x_t`` is even (0 is even)."""
    return [int(x % 2 == 0) for x in seq]


def perfect_square_detector(seq: Sequence[int]) -> list[int]:
    """Perfect_Square_Detector: ``y_t = 1`` iff ``x_t`` is in {0, 1, 4, 9, 16}."""
    return [int(x in PERFECT_SQUARES) for x in seq]


# --- vectorised twins (all (N, L) -> (N, L)) -----------------------------------------------


def current_number_vec(x: IntArray) -> IntArray:
    """Identity."""
    return x.copy()


def prev_vec(k: int) -> ScalarVectorRule:
    """Delay by ``k`` with zeros first."""

    def rule(x: IntArray) -> IntArray:
        return shift_right(x, k)

    rule.__name__ = rule.__qualname__ = f"prev{k}_vec"
    return rule


def previous_equals_current_vec(x: IntArray) -> IntArray:
    """1 where ``x_t == x_(t-1)``, ``x_(-1) = 0``."""
    return as_int64(x == shift_right(x, 1))


def diff_last2_vec(x: IntArray) -> IntArray:
    """``x_t - x_(t-1)``, ``x_(-1) = 0``."""
    return x - shift_right(x, 1)


def abs_diff_vec(x: IntArray) -> IntArray:
    """``|x_t - x_(t-1)|``, ``x_(-1) = 0``."""
    return as_int64(np.abs(x - shift_right(x, 1)))


def abs_current_vec(x: IntArray) -> IntArray:
    """``|x_t|``."""
    return np.abs(x)


def diff_abs_values_vec(x: IntArray) -> IntArray:
    """``|x_t| - |x_(t-1)|``, ``x_(-1) = 0``."""
    return np.abs(x) - np.abs(shift_right(x, 1))


def min_seen_vec(x: IntArray) -> IntArray:
    """Running minimum."""
    return np.minimum.accumulate(x, axis=1)


def max_seen_vec(x: IntArray) -> IntArray:
    """Running maximum."""
    return np.maximum.accumulate(x, axis=1)


def majority_vec(k: int) -> ScalarVectorRule:
    """Running mode over 0..k, ties to the smallest symbol."""

    def rule(x: IntArray) -> IntArray:
        mode = np.zeros_like(x)
        top = np.cumsum(x == 0, axis=1, dtype=np.int64)
        for v in range(1, k + 1):  # a larger symbol wins only with a strictly larger count
            counts = np.cumsum(x == v, axis=1, dtype=np.int64)
            mode[counts > top] = v
            top = np.maximum(top, counts)
        # A maximal count is >= 1, so the mode is always a symbol already seen.
        return mode

    rule.__name__ = rule.__qualname__ = f"majority_0_{k}_vec"
    return rule


def evens_detector_vec(x: IntArray) -> IntArray:
    """1 where ``x_t`` is even."""
    return as_int64(x % 2 == 0)


def perfect_square_detector_vec(x: IntArray) -> IntArray:
    """1 where ``x_t`` is in {0, 1, 4, 9, 16}."""
    return np.isin(x, PERFECT_SQUARES).astype(np.int64)
