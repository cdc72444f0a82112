"""Finite-window states: found when the hidden state is a function of the last k inputs."""

from __future__ import annotations

import numpy as np

from interplab.mips.states.window import find_window, window_keys


def test_window_keys_pad_with_zeros_before_the_start() -> None:
    x = np.array([[[3], [5], [7]]])
    assert window_keys(x, 2)[0].tolist() == [[0, 3], [3, 5], [5, 7]]
    assert window_keys(x, 0).shape == (1, 3, 0)


def test_delay_line_states_have_window_two() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, size=(500, 8, 1))
    previous = np.concatenate([np.zeros((500, 1, 1)), x[:, :-1]], axis=1)
    hidden = np.concatenate([np.tanh(x + 0.3 * previous), previous - x], axis=2)  # any function
    assert find_window(hidden, x) == 2


def test_running_sums_have_no_short_window() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, size=(500, 8, 1))
    hidden = np.cumsum(x, axis=1).astype(float)
    assert find_window(hidden, x, max_window=4) is None


def test_windows_that_almost_never_repeat_prove_nothing() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 1000, size=(50, 4, 1))
    hidden = rng.normal(size=(50, 4, 2))  # no structure at all
    assert find_window(hidden, x) is None
