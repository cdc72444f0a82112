"""Toeplitz normalizer: keeps a Jordan-form W, makes one input write a unit vector per block."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interplab.mips.rnn import GeneralRNN, RNNArchitecture, predict
from interplab.mips.simplify import (
    JordanBlock,
    change_basis,
    integrality,
    jordan_blocks,
    simplify_rnn,
    toeplitz_basis,
)


def linear_rnn(w: np.ndarray, u: np.ndarray, c: np.ndarray, seed: int = 0) -> GeneralRNN:
    """A linear RNN with recurrence ``w`` (n, n), inputs ``u`` (n, d_in) and readout ``c``.

    Quarter-integer weights, integer ``c`` and a readout bias of 0.2 keep every output at least
    0.05 away from a rounding tie, so float noise cannot flip a rounded output.
    """
    n, d_in = u.shape
    model = GeneralRNN(RNNArchitecture(1, 1, n), d_in, 1, seed=seed)
    with torch.no_grad():
        model.f[0].weight.copy_(torch.tensor(np.concatenate([w, u], axis=1)))
        model.f[0].bias.copy_(torch.tensor(np.linspace(0.25, 0.75, n)))
        model.g[0].weight.copy_(torch.tensor(c[None, :]))
        model.g[0].bias.copy_(torch.tensor([0.2]))
    return model


def weights(model: GeneralRNN) -> tuple[np.ndarray, np.ndarray]:
    n = model.architecture.hidden_dim
    full = model.f[0].weight.detach().double().numpy()
    return full[:, :n], full[:, n:]


def inputs(d_in: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-3, 4, size=(400, 6, d_in)).astype(np.int64)


# A size-2 Jordan block at λ = 1 (an integrator of an integrator) and a diagonal mode -1.
W_REAL = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]])
U_REAL = np.array([[0.25, -0.75], [0.5, 2.0], [1.5, -0.5]])


def test_blocks_are_read_off_a_jordan_form() -> None:
    assert jordan_blocks(W_REAL) == [JordanBlock(0, 2, 1), JordanBlock(2, 1, 1)]
    rotation = np.array([[0.6, 0.8], [-0.8, 0.6]])
    w = np.block([[rotation, np.eye(2)], [np.zeros((2, 2)), rotation]])
    assert jordan_blocks(w) == [JordanBlock(0, 4, 2)]


def test_toeplitz_keeps_w_and_makes_the_strongest_input_a_unit_vector_per_block() -> None:
    model = linear_rnn(W_REAL, U_REAL, np.array([1.0, -2.0, 3.0]))
    m = toeplitz_basis(model)
    moved = change_basis(model, m)
    w, u = weights(moved)
    assert np.allclose(w, W_REAL, atol=1e-6)
    # Block 0..1: channel 1 feeds its last coordinate most (2.0 > 0.5); block 2: channel 0.
    assert np.allclose(u[:2, 1], [0.0, 1.0], atol=1e-6)
    assert np.isclose(u[2, 0], 1.0, atol=1e-6)
    # The other channel, by hand: T = [[2, -0.75], [0, 2]] on block 0..1, T = [1.5] on unit 2.
    t_inv = np.linalg.inv(np.array([[2.0, -0.75], [0.0, 2.0]]))
    assert np.allclose(u[:2, 0], t_inv @ U_REAL[:2, 0], atol=1e-6)
    assert np.isclose(u[2, 1], -0.5 / 1.5, atol=1e-6)
    x = inputs(2)
    assert np.array_equal(predict(moved, x), predict(model, x))
    raw = model(torch.from_numpy(x).float())[0].detach().numpy()
    assert np.allclose(moved(torch.from_numpy(x).float())[0].detach().numpy(), raw, atol=1e-3)


def test_toeplitz_handles_a_complex_jordan_chain() -> None:
    # Two 2x2 rotation-scaling cells with identity above: a repeated complex pair.
    cell = np.array([[0.0, 1.0], [-1.0, 0.0]])  # a quarter turn
    w = np.block([[cell, np.eye(2)], [np.zeros((2, 2)), cell]])
    u = np.array([[0.5], [-1.25], [0.75], [0.25]])
    model = linear_rnn(w, u, np.array([1.0, -1.0, 2.0, 1.0]))
    moved = change_basis(model, toeplitz_basis(model))
    w_new, u_new = weights(moved)
    assert np.allclose(w_new, w, atol=1e-6)
    assert np.allclose(u_new[:, 0], [0.0, 0.0, 1.0, 0.0], atol=1e-6)
    x = inputs(1)
    assert np.array_equal(predict(moved, x), predict(model, x))


def test_toeplitz_refuses_a_recurrence_not_in_jordan_form() -> None:
    w = np.array([[0.75, 0.25, 0.0], [0.25, 0.5, 0.0], [0.0, 0.0, 0.5]])
    model = linear_rnn(w, U_REAL, np.array([1.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match=r"not in real Jordan form \(an entry is 0\.25 off"):
        toeplitz_basis(model)
    _, steps = simplify_rnn(model, inputs(2), steps=("toeplitz",))
    assert not steps[0].is_applied and steps[0].reason.startswith("not applicable: W is not")


def test_toeplitz_refuses_a_block_no_input_reaches() -> None:
    u = np.array([[0.25, -0.75], [0.0, 0.0], [1.5, -0.5]])
    with pytest.raises(ValueError, match=r"no input feeds .* hidden units 0\.\.1"):
        toeplitz_basis(linear_rnn(W_REAL, u, np.array([1.0, 0.0, 0.0])))


def test_toeplitz_refuses_a_nonlinear_recurrence() -> None:
    model = GeneralRNN(RNNArchitecture(1, 2, 2, hidden_width=4), 1, 1, seed=0)
    with pytest.raises(ValueError, match="not linear"):
        toeplitz_basis(model)


def test_chain_undoes_toeplitz_when_it_makes_weights_less_integral() -> None:
    # Channel 0 feeds the last coordinate (1 > 0.5): T = [[1, 1], [0, 1]] turns channel 1's
    # (0, 0.5) into (-0.5, 0.5): integrality 0.5 -> 1.0, outputs unchanged.
    w = np.array([[1.0, 1.0], [0.0, 1.0]])
    u = np.array([[1.0, 0.0], [1.0, 0.5]])
    model = linear_rnn(w, u, np.array([1.0, 2.0]))
    candidate = change_basis(model, toeplitz_basis(model))
    assert integrality(candidate) == pytest.approx(1.0, abs=1e-5)
    assert integrality(model) == pytest.approx(0.5, abs=1e-5)
    kept, steps = simplify_rnn(model, inputs(2), steps=("toeplitz",))
    assert steps[0].reason == "undone: weights became less integral"
    assert kept is model


def test_chain_applies_toeplitz_when_it_helps() -> None:
    model = linear_rnn(W_REAL, np.array([[0.0], [0.5], [2.0]]), np.array([1.0, -2.0, 3.0]))
    simplified, steps = simplify_rnn(model, inputs(1), steps=("toeplitz",))
    assert steps[0].is_applied
    w, u = weights(simplified)
    assert np.allclose(w, W_REAL, atol=1e-6) and np.allclose(u[:, 0], [0, 1, 1], atol=1e-6)
