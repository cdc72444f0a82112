"""Type aliases and array helpers shared by the rule modules.

Shapes: ``N`` sequences, ``L`` positions, ``d_in`` / ``d_out`` integers per position.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "IntArray",
    "Rule",
    "ScalarVectorRule",
    "VectorRule",
    "as_int64",
    "lift_scalar",
    "shift_right",
    "window_sum",
]

IntArray = NDArray[np.int64]
"""An int64 array; the rules compute in int64 and the generator casts to the task's dtype."""

Rule = Callable[[Sequence[Any]], list[Any]]
"""A plain reference rule: one input sequence (a list of ints, or of tuples when ``d_in = 2``)
to its output sequence (a list of ints, or of tuples when ``d_out = 2``)."""

VectorRule = Callable[[IntArray], IntArray]
"""A vectorised rule: int64 ``(N, L, d_in)`` inputs to int64 ``(N, L, d_out)`` outputs."""

ScalarVectorRule = Callable[[IntArray], IntArray]
"""A vectorised rule of a one-stream task: int64 ``(N, L)`` to int64 ``(N, L)``; see
:func:`lift_scalar`."""


def as_int64(array: NDArray[Any]) -> IntArray:
    """View (or convert) a bool or integer array as int64, copying only if needed."""
    return np.asarray(array, dtype=np.int64)


def lift_scalar(fn: ScalarVectorRule) -> VectorRule:
    """Turn a ``(N, L) -> (N, L)`` rule into a ``(N, L, 1) -> (N, L, 1)`` one.

    Args:
        fn: vectorised rule of a one-input, one-output task on int64 ``(N, L)`` arrays.

    Returns:
        The same rule on int64 ``(N, L, 1)`` arrays.
    """

    def lifted(x: IntArray) -> IntArray:
        return fn(x[..., 0])[..., None]

    lifted.__name__ = fn.__name__
    lifted.__doc__ = fn.__doc__
    return lifted


def shift_right(x: IntArray, k: int) -> IntArray:
    """Delay each row by ``k`` positions, filling the first ``k`` with 0.

    Args:
        x: int64 ``(N, L)``.
        k: delay, ``k >= 1``.

    Returns:
        int64 ``(N, L)`` with ``out[:, t] = x[:, t - k]`` for ``t >= k`` and 0 before.
    """
    out = np.zeros_like(x)
    if k < x.shape[1]:
        out[:, k:] = x[:, : x.shape[1] - k]
    return out


def window_sum(x: IntArray, k: int) -> IntArray:
    """Sum of the last ``k`` values of each row, window truncated at position 0.

    Args:
        x: int64 ``(N, L)``.
        k: window length, ``k >= 1``.

    Returns:
        int64 ``(N, L)`` with ``out[:, t] = x[:, max(0, t - k + 1) : t + 1].sum(1)``.
    """
    n, length = x.shape
    csum = np.concatenate([np.zeros((n, 1), np.int64), np.cumsum(x, axis=1)], axis=1)
    head = min(k, length)
    before = np.concatenate([np.zeros((n, head), np.int64), csum[:, 1 : length - head + 1]], axis=1)
    return as_int64(csum[:, 1:] - before)
