"""Simplifiers: every change of basis preserves the function; Jordan/companion forms; quantize."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from interplab.mips.rnn import GeneralRNN, RNNArchitecture, hidden_states, predict
from interplab.mips.simplify import (
    change_basis,
    companion_basis,
    debias,
    jordan_basis,
    quantize,
    simplify_rnn,
    whiten,
)


def linear_rnn(
    w: list[list[float]], u: list[float], b: list[float], c: list[float], d: float
) -> GeneralRNN:
    n = len(w)
    model = GeneralRNN(RNNArchitecture(1, 1, n), 1, 1, seed=0)
    with torch.no_grad():
        model.f[0].weight.copy_(
            torch.tensor(np.concatenate([np.array(w), np.array(u)[:, None]], axis=1))
        )
        model.f[0].bias.copy_(torch.tensor(b))
        model.g[0].weight.copy_(torch.tensor([c]))
        model.g[0].bias.copy_(torch.tensor([d]))
    return model


def inputs(seed: int = 0, n: int = 300, high: int = 10) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, high, size=(n, 8, 1)).astype(np.int64)


@pytest.mark.parametrize("arch", [RNNArchitecture(1, 1, 3), RNNArchitecture(2, 2, 3, 8, 8)])
def test_change_of_basis_moves_the_states_and_keeps_the_outputs(arch: RNNArchitecture) -> None:
    model = GeneralRNN(arch, 1, 1, seed=1)
    m = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, -1.0], [1.0, 0.0, 3.0]])
    moved = change_basis(model, m)
    x = inputs()
    h, h_moved = hidden_states(model, x), hidden_states(moved, x)
    assert np.allclose(h_moved, h @ m.T, atol=1e-3)
    y = model(torch.from_numpy(x).float())[0].detach().numpy()
    assert np.allclose(moved(torch.from_numpy(x).float())[0].detach().numpy(), y, atol=1e-3)


def test_whitening_makes_the_second_moment_the_identity() -> None:
    model = GeneralRNN(RNNArchitecture(1, 1, 2), 1, 1, seed=2)
    x = inputs(n=2000)
    h = hidden_states(model, x).reshape(-1, 2)
    white = hidden_states(whiten(model, h), x).reshape(-1, 2)
    assert np.allclose(white.T @ white / len(white), np.eye(2), atol=1e-3)


def test_jordan_form_of_a_disguised_delay_line_is_the_shift() -> None:
    # W = P S P^-1 with S the 3-step shift: nilpotent, a single Jordan block at 0.
    p = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0], [1.0, 0.0, 1.0]])
    shift = np.diag([1.0, 1.0], k=-1)
    w = p @ shift @ np.linalg.inv(p)
    model = linear_rnn(w.tolist(), (p @ [1.0, 0.0, 0.0]).tolist(), [0, 0, 0], [0.3, 0.1, -0.2], 0.0)
    form = change_basis(model, jordan_basis(model))
    w_new = form.f[0].weight.detach().double().numpy()
    assert np.allclose(w_new[:, :3], np.diag([1.0, 1.0], k=1), atol=1e-4)  # λ = 0, ones above
    assert np.allclose(w_new[:, 3], [0.0, 0.0, 1.0], atol=1e-4)  # the input enters the chain's end


def test_companion_form_makes_an_integer_oscillator_integer() -> None:
    # A spring (p, v) -> (v + x, v + x - p) in a rotated basis: complex eigenvalues.
    true = np.array([[0.0, 1.0], [-1.0, 1.0]])
    rotation = np.array([[np.cos(0.4), -np.sin(0.4)], [np.sin(0.4), np.cos(0.4)]]) * 1.7
    w = rotation @ true @ np.linalg.inv(rotation)
    u = rotation @ np.array([1.0, 1.0])
    model = linear_rnn(w.tolist(), u.tolist(), [0, 0], [0.5, 0.5], 0.0)
    form = change_basis(model, companion_basis(model))
    weights = form.f[0].weight.detach().double().numpy()
    assert np.allclose(weights, np.round(weights), atol=1e-4)
    assert np.allclose(weights[:, 2], [1.0, 0.0], atol=1e-4)


def test_debias_drops_only_the_unread_part_of_the_bias() -> None:
    # The second hidden unit is never read (by f or g): its bias is dead weight.
    model = linear_rnn([[1.0, 0.0], [0.0, 0.0]], [1.0, 0.0], [0.0, 0.7], [1.0, 0.0], 0.0)
    cleaned = debias(model)
    assert np.allclose(cleaned.f[0].bias.detach().numpy(), [0.0, 0.0], atol=1e-6)
    x = inputs()
    assert np.array_equal(predict(cleaned, x), predict(model, x))


def test_quantize_snaps_only_near_integers() -> None:
    model = linear_rnn([[0.996]], [1.004], [0.3], [1.0], -0.005)
    snapped = quantize(model, tol=0.01)
    assert snapped.f[0].weight.tolist() == [[1.0, 1.0]]
    assert snapped.f[0].bias.item() == pytest.approx(0.3)
    assert snapped.g[0].bias.item() == 0.0


def test_simplify_turns_a_leaky_running_sum_into_an_exact_integrator(task_data: Callable) -> None:
    # Trained-looking network: decay 0.9996 compensated by a bias. Snapping w to 1 breaks it
    # until the bias is retrained away.
    model = linear_rnn([[0.9996]], [1.0], [0.0964], [1.0007], -0.3908)
    (x, y), _ = task_data("Sum_All", 1200)
    assert np.array_equal(predict(model, x), y)
    simplified, steps = simplify_rnn(model, x, y)
    assert [s.name for s in steps] == ["whiten", "jordan", "toeplitz", "debias", "quantize"]
    assert steps[-1].is_applied
    w = simplified.f[0].weight.detach().numpy()
    assert np.abs(w[0, 0]) == 1.0 and np.abs(w[0, 1]) == 1.0
    assert np.array_equal(predict(simplified, x), y)


def test_unknown_simplifier_is_rejected() -> None:
    model = linear_rnn([[1.0]], [1.0], [0.0], [1.0], 0.0)
    with pytest.raises(ValueError, match=r"unknown simplifier 'hammer'; use some of .*'l1'"):
        simplify_rnn(model, inputs(), steps=("whiten", "hammer"))
