"""Canonical bases of a linear recurrence: Jordan, companion and Toeplitz (``mips.md`` §7).

For ``f`` of depth 1, ``h_t = W h_{t-1} + U x_t + b``. Each function returns the ``M`` of a
change of basis ``h → M h`` (:func:`~interplab.mips.simplify.basis.change_basis`), after which
``W`` becomes ``M W M⁻¹`` and ``U`` becomes ``M U``.

- :func:`jordan_basis`: real Jordan (or diagonal) form, the input scaled to write 1s.
- :func:`companion_basis`: the Krylov basis ``u, W u, W² u, …`` (integer characteristic
  polynomial in the last column).
- :func:`toeplitz_basis`: for a ``W`` already in real Jordan form, the upper-triangular Toeplitz
  matrices that commute with each block, chosen so that one input writes a unit vector into it.

Shapes: ``n`` hidden units, ``d_in`` integers per input position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..rnn import GeneralRNN
from .basis import change_basis, integrality, recurrence

__all__ = [
    "JordanBlock",
    "companion_basis",
    "integer_basis",
    "jordan_basis",
    "jordan_blocks",
    "toeplitz_basis",
]


def _require_linear(model: GeneralRNN) -> None:
    if model.architecture.hidden_depth != 1:
        raise ValueError("the recurrence is not linear (f has depth > 1)")


def jordan_basis(model: GeneralRNN, *, eig_tol: float = 0.7, max_cond: float = 1e6) -> np.ndarray:
    """``M`` that puts a linear recurrence into real Jordan (or diagonal) form.

    Eigenvalues closer than ``eig_tol`` count as one (the reference merges within 0.7). One
    cluster: the Jordan chain ``(W - λI)^k u`` of the main input vector ``u``, so that
    ``W ≈ λI + N`` with ``N`` the shift. All distinct: a real diagonalisation, complex pairs as
    rotation-scaling blocks, each mode scaled so the input writes 1 into it.

    Args:
        model: a network whose ``f`` has depth 1.
        eig_tol: eigenvalues closer than this count as one (repeated) eigenvalue.
        max_cond: refuse bases whose condition number exceeds this.

    Returns:
        float ``(n, n)`` ``M`` for :func:`change_basis`.

    Raises:
        ValueError: ``f`` is not linear, or no well-conditioned basis was found; the message
            says which.
    """
    _require_linear(model)
    w, u = recurrence(model)
    n = len(w)
    values, vectors = np.linalg.eig(w)
    u_main = u[:, int(np.argmax(np.linalg.norm(u, axis=0)))] if u.size else np.ones(n)
    gaps = np.abs(values[:, None] - values[None, :]) + np.eye(n) * 1e9
    if n > 1 and np.abs(values - values.mean()).max() < eig_tol:
        lam = (
            float(np.round(values.real.mean()))
            if abs(values.real.mean() - np.round(values.real.mean())) < eig_tol / 2
            else float(values.real.mean())
        )
        shifted = w - lam * np.eye(n)
        chain = [u_main]
        for _ in range(n - 1):
            chain.append(shifted @ chain[-1])
        basis = np.stack(chain[::-1], axis=1)
        if np.linalg.cond(basis) > max_cond:
            raise ValueError("the input's Jordan chain does not span the hidden space")
        return np.linalg.inv(basis)
    if n == 1 or gaps.min() > 1e-6:
        columns: list[np.ndarray] = []
        done: set[int] = set()
        for i in np.argsort(-values.real, kind="stable"):
            if i in done:
                continue
            vec = vectors[:, i]
            if abs(values[i].imag) < 1e-9:
                columns.append(vec.real / np.linalg.norm(vec.real))
                done.add(int(i))
            else:
                pair = int(np.argmin(np.abs(values - values[i].conjugate())))
                done.update({int(i), pair})
                columns += [vec.real, vec.imag]
        basis = np.stack(columns, axis=1)
        if np.linalg.cond(basis) > max_cond:
            raise ValueError("eigenvectors are ill-conditioned")
        coords = np.linalg.solve(basis, u_main)
        scale = np.where(np.abs(coords) > 1e-6, coords, 1.0)
        basis = basis * scale[None, :]
        return np.linalg.inv(basis)
    raise ValueError("eigenvalues are partly repeated (mixed Jordan structure is not handled)")


def companion_basis(model: GeneralRNN, *, max_cond: float = 1e8) -> np.ndarray:
    """``M`` that puts a linear recurrence into (block) companion form: the Krylov basis.

    Basis vectors are ``u_j, W u_j, W² u_j, …`` for the input columns ``u_j``, taken greedily
    while independent. In it every input writes a unit vector and ``W`` shifts one basis vector
    to the next, with the characteristic polynomial's coefficients in the last column: integers
    whenever the task's recurrence is an integer one, even with complex eigenvalues (a spring).

    Args:
        model: a network whose ``f`` has depth 1.
        max_cond: refuse bases whose condition number exceeds this.

    Returns:
        float ``(n, n)`` ``M`` for :func:`change_basis`.

    Raises:
        ValueError: ``f`` is not linear or the inputs do not reach every hidden direction.
    """
    _require_linear(model)
    w, u = recurrence(model)
    n = len(w)
    chosen: list[np.ndarray] = []
    block = u
    for _ in range(n):
        for vector in block.T:
            if len(chosen) == n or np.linalg.norm(vector) < 1e-9:
                continue
            candidate = np.stack([*chosen, vector], axis=1)
            if np.linalg.cond(candidate) < max_cond:
                chosen.append(vector)
        block = w @ block
    if len(chosen) < n:
        raise ValueError("the inputs do not reach every hidden direction (not controllable)")
    return np.linalg.inv(np.stack(chosen, axis=1))


def integer_basis(model: GeneralRNN) -> tuple[np.ndarray, str]:
    """The Jordan or the companion basis, whichever leaves the recurrence closer to integers.

    Args:
        model: a network whose ``f`` has depth 1.

    Returns:
        ``(M, form)`` with ``form`` ``"jordan"`` or ``"companion"``.

    Raises:
        ValueError: neither basis exists.
    """
    options: list[tuple[float, np.ndarray, str]] = []
    errors = []
    for form, make in (("jordan", jordan_basis), ("companion", companion_basis)):
        try:
            matrix = make(model)
        except (ValueError, np.linalg.LinAlgError) as error:
            errors.append(f"{form}: {error}")
            continue
        options.append((integrality(change_basis(model, matrix)), matrix, form))
    if not options:
        raise ValueError("; ".join(errors))
    _, matrix, form = min(options, key=lambda o: o[0])
    return matrix, form


@dataclass(frozen=True)
class JordanBlock:
    """One block of a real Jordan form: hidden units ``start … start + size - 1``."""

    start: int
    size: int
    """Coordinates in the block (twice the chain length for a complex pair)."""
    cell: int
    """1 for a real eigenvalue ``λ``; 2 for a complex pair, whose cells are ``[[a, b], [-b, a]]``
    with identity cells above the diagonal."""


def jordan_blocks(w: np.ndarray, *, tol: float = 1e-2) -> list[JordanBlock]:
    """The blocks of a matrix that is already in real Jordan form, read off its entries.

    A real block is ``λ`` on the diagonal and 1 just above it; a complex block has 2×2 cells
    ``[[a, b], [-b, a]]`` on the diagonal and 2×2 identities just above; everything else is 0.

    Args:
        w: float ``(n, n)``.
        tol: largest deviation of any entry from that pattern.

    Returns:
        The blocks, in order along the diagonal.

    Raises:
        ValueError: ``w`` deviates from every real Jordan form by more than ``tol``.
    """
    n = len(w)
    ideal = np.zeros_like(w)
    blocks = []
    i = 0
    while i < n:
        c = 2 if i + 1 < n and abs(w[i + 1, i]) > tol else 1
        cell = w[i : i + c, i : i + c].copy()
        if c == 2:  # the nearest rotation-scaling cell
            a, b = (cell[0, 0] + cell[1, 1]) / 2, (cell[0, 1] - cell[1, 0]) / 2
            cell = np.array([[a, b], [-b, a]])
        size = c
        while (
            i + size + c <= n
            and np.abs(w[i + size - c : i + size, i + size : i + size + c] - np.eye(c)).max() <= tol
            and np.abs(w[i + size : i + size + c, i + size : i + size + c] - cell).max() <= tol
        ):
            size += c
        for k in range(0, size, c):
            ideal[i + k : i + k + c, i + k : i + k + c] = cell
            if k:
                ideal[i + k - c : i + k, i + k : i + k + c] = np.eye(c)
        blocks.append(JordanBlock(i, size, c))
        i += size
    deviation = float(np.abs(w - ideal).max()) if n else 0.0
    if deviation > tol:
        raise ValueError(
            f"W is not in real Jordan form (an entry is {deviation:.3g} off, tol {tol}); "
            "change basis with jordan_basis first"
        )
    return blocks


def _toeplitz(piece: np.ndarray, cell: int) -> np.ndarray:
    """Upper-triangular block Toeplitz ``T`` (k, k) with ``T e_last = piece``.

    ``e_last`` is the first coordinate of the last cell; ``T`` commutes with every Jordan block
    of ``k`` coordinates and that cell size.
    """
    k = len(piece)
    cells = k // cell
    t = np.zeros((k, k))
    for j in range(cells):  # the coefficient of the j-th power of the shift
        part = piece[k - cell * (j + 1) : k - cell * j]
        block = np.array([[part[0]]]) if cell == 1 else np.array([[part[0], -part[1]], part[::-1]])
        for r in range(cells - j):
            t[r * cell : (r + 1) * cell, (r + j) * cell : (r + j + 1) * cell] = block
    return t


def toeplitz_basis(model: GeneralRNN, *, tol: float = 1e-2, max_cond: float = 1e6) -> np.ndarray:
    """``M`` that keeps a Jordan-form ``W`` and makes one input write a unit vector per block.

    Per block of ``W`` (:func:`jordan_blocks`), the input channel with the largest weight into
    the block's last coordinate (cell) is chosen; ``T`` is the upper-triangular Toeplitz matrix
    built from that channel's weights on the block, so ``T e_last = u_block``. ``T`` commutes
    with the block, so ``M = T⁻¹`` (block-diagonal) leaves ``W`` unchanged and maps the chosen
    input column to ``e_last`` on every block.

    Args:
        model: a network whose ``f`` has depth 1 and whose ``W`` is in real Jordan form.
        tol: tolerance of the Jordan-form test, and smallest input weight that can be chosen.
        max_cond: refuse a block's ``T`` whose condition number exceeds this.

    Returns:
        float ``(n, n)`` ``M`` for :func:`change_basis`.

    Raises:
        ValueError: ``f`` is not linear, has no input, ``W`` is not in Jordan form, no input
            feeds some block's last coordinate, or ``T`` is ill-conditioned; the message says
            which.
    """
    _require_linear(model)
    w, u = recurrence(model)
    if u.shape[1] == 0:
        raise ValueError("the network has no input to normalise")
    matrix = np.zeros_like(w)
    for block in jordan_blocks(w, tol=tol):
        rows = slice(block.start, block.start + block.size)
        last = u[block.start + block.size - block.cell : block.start + block.size]
        channel = int(np.argmax(np.linalg.norm(last, axis=0)))
        if np.linalg.norm(last[:, channel]) <= tol:
            raise ValueError(
                f"no input feeds the last coordinate of the Jordan block at hidden units "
                f"{block.start}..{block.start + block.size - 1}"
            )
        t = _toeplitz(u[rows, channel], block.cell)
        if np.linalg.cond(t) > max_cond:
            raise ValueError(
                f"the Toeplitz matrix of hidden units {block.start}.."
                f"{block.start + block.size - 1} is ill-conditioned"
            )
        matrix[rows, rows] = np.linalg.inv(t)
    return matrix
