"""Finite-window states: the hidden state as a function of the last few inputs (beyond the paper).

Many tasks only remember a fixed number of recent inputs (delays, differences, "equals the
previous", alternation patterns). If every hidden state ``h_t`` is, numerically, a function of
the window ``(x_{t-k+1}, …, x_t)`` (zeros before position 0), the discrete state is that window:
the program keeps the last ``k - 1`` inputs and computes the output from them and the current
input. :func:`find_window` finds the smallest such ``k`` from the hidden states, requiring that
most states share their window with another state, so that the test is not vacuous.

Shapes: ``N`` sequences, ``L`` positions, ``n`` hidden units, ``d_in`` inputs per position.
"""

from __future__ import annotations

import numpy as np

from ..sequences import IntArray

__all__ = ["find_window", "window_keys"]


def window_keys(inputs: IntArray, k: int) -> np.ndarray:
    """The last ``k`` inputs at every position, zero-padded before position 0.

    Args:
        inputs: int64 ``(N, L, d_in)``.
        k: window length (0 gives empty keys).

    Returns:
        int64 ``(N, L, k · d_in)``, oldest input first.
    """
    n, length, d_in = inputs.shape
    padded = np.concatenate([np.zeros((n, max(k - 1, 0), d_in), np.int64), inputs], axis=1)
    parts = [padded[:, j : j + length] for j in range(k)]
    if not parts:
        return np.zeros((n, length, 0), dtype=np.int64)
    return np.concatenate(parts, axis=2)


def find_window(
    hidden: np.ndarray,
    inputs: IntArray,
    *,
    max_window: int = 6,
    tol: float = 0.02,
    min_shared: float = 0.5,
) -> int | None:
    """Smallest ``k`` such that the hidden state is a function of the last ``k`` inputs.

    Args:
        hidden: float ``(N, L, n)`` states ``h_0 … h_{L-1}``.
        inputs: int64 ``(N, L, d_in)``.
        max_window: largest ``k`` tried.
        tol: states with equal windows must agree within ``tol ×`` the largest absolute state
            value.
        min_shared: at least this fraction of states must share their window with another,
            or the test says nothing and ``k`` is rejected.

    Returns:
        ``k`` (0 means the state never changes), or ``None``.
    """
    flat = hidden.reshape(-1, hidden.shape[-1])
    scale = max(float(np.abs(flat).max(initial=0.0)), 1e-9)
    for k in range(max_window + 1):
        keys = window_keys(inputs, k).reshape(len(flat), -1)
        _, groups, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
        groups = groups.reshape(-1)
        if counts[groups].__ge__(2).mean() < min_shared:
            return None
        means = np.zeros((len(counts), flat.shape[1]))
        np.add.at(means, groups, flat)
        means /= counts[:, None]
        if np.abs(flat - means[groups]).max() <= tol * scale:
            return k
    return None
