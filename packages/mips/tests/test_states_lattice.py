"""Integer-lattice finders: known lattices are recovered, noise tolerated, DL selection."""

from __future__ import annotations

import numpy as np
import pytest

from interplab.mips.states import (
    Lattice,
    find_lattice_gcd,
    find_lattice_linear,
    lll_reduce,
    select_lattice,
)


def same_lattice(found: np.ndarray, true: np.ndarray) -> bool:
    """Rows of ``found`` generate the lattice of the rows of ``true`` (unimodular change)."""
    change = np.linalg.solve(true.T, found.T).T
    return (
        bool(np.allclose(change, np.round(change), atol=1e-3))
        and abs(abs(np.linalg.det(np.round(change))) - 1) < 1e-9
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gcd_finder_recovers_a_skewed_2d_lattice(seed: int) -> None:
    rng = np.random.default_rng(seed)
    basis = np.array([[0.7, 0.2], [0.3, -0.9]]) * rng.uniform(0.5, 2.0)
    origin = rng.normal(size=2)
    z = rng.integers(-6, 7, size=(400, 2))
    hidden = z @ basis + origin + rng.normal(scale=1e-3, size=(400, 2))
    lattice = find_lattice_gcd(hidden)
    assert lattice is not None and lattice.rank == 2
    assert same_lattice(lattice.basis, basis)
    assert lattice.fractional_error(hidden).max() < 0.05


def test_gcd_finder_refines_past_a_coarse_start() -> None:
    # Only even multiples along the first axis appear among the shortest differences at first,
    # but odd ones exist: the vector Euclid must halve the basis vector.
    z = np.array([[2 * i, j] for i in range(5) for j in range(3)] + [[3, 0]], dtype=float)
    basis = np.array([[0.5, 0.0], [0.0, 2.0]])
    lattice = find_lattice_gcd(z @ basis)
    assert lattice is not None and same_lattice(lattice.basis, basis)


def test_gcd_finder_handles_states_in_a_lower_dimensional_subspace() -> None:
    direction = np.array([[0.6, 0.8, 0.0]])
    hidden = np.arange(12)[:, None] * direction * 1.5 + np.array([0.1, 0.2, 0.3])
    lattice = find_lattice_gcd(hidden)
    assert lattice is not None and lattice.rank == 1
    z = np.round(lattice.coordinates(hidden))[:, 0]
    assert sorted(np.abs(np.diff(z)).tolist()) == [1.0] * 11


def test_gcd_finder_gives_none_for_a_single_state() -> None:
    assert find_lattice_gcd(np.ones((5, 2))) is None


def test_linear_finder_reads_a_shift_register() -> None:
    # h_t = W h_{t-1} + U x_t in a skewed basis: a delay line holding (x_t, x_{t-1}).
    mix = np.array([[1.0, 0.4], [-0.3, 0.8]])
    shift, write = np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[1.0], [0.0]])
    rng = np.random.default_rng(0)
    x = rng.integers(0, 10, size=(200, 6, 1)).astype(float)
    h = np.zeros((200, 2))
    before, after = [], []
    for t in range(6):
        new = h @ shift.T + x[:, t] @ write.T
        before.append(h @ mix.T)
        after.append(new @ mix.T)
        h = new
    lattice = find_lattice_linear(
        np.concatenate(before), x.transpose(1, 0, 2).reshape(-1, 1), np.concatenate(after)
    )
    assert lattice is not None
    assert same_lattice(lattice.basis, (np.eye(2) @ mix.T))
    z = np.round(lattice.coordinates(np.concatenate(after)))
    assert np.allclose(lattice.coordinates(np.concatenate(after)), z, atol=1e-6)
    assert np.allclose(lattice.origin, 0.0)


def test_lll_shortens_a_bad_basis_of_the_same_lattice() -> None:
    good = np.array([[1.0, 0.0], [0.0, 1.0]])
    bad = np.array([[1.0, 0.0], [7.0, 1.0]])
    reduced = lll_reduce(bad)
    assert same_lattice(reduced, good)
    assert np.linalg.norm(reduced, axis=1).max() < 1.01


def test_select_lattice_prefers_the_shorter_description() -> None:
    hidden = np.arange(10)[:, None] * np.array([[1.0]])
    fine = Lattice(basis=np.array([[0.5]]), origin=np.zeros(1), method="fine")
    right = Lattice(basis=np.array([[1.0]]), origin=np.zeros(1), method="right")
    assert select_lattice([fine, None, right], hidden) is right
    assert select_lattice([None], hidden) is None
