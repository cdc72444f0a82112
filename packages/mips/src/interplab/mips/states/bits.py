"""Bit finder: hidden states as a few Boolean variables (``mips.md`` §9, "Bit Finder").

The reference clusters hidden states into ``2ⁿ`` groups (spectral clustering), tries every
bijection from groups to ``n``-bit codes, and keeps the coding whose next-state bits and outputs
have the shortest Boolean formulas. Here :func:`cluster_states` is k-means (k-means++ seeding),
the groups become a machine (:func:`~interplab.mips.states.fsm.machine_from_clusters`), and
:func:`find_bit_coding` scores codings of any machine's states with a caller-supplied cost (the
pipeline passes the total length of the Boolean formulas), trying every injective coding when
there are at most ``max_codings`` of them and a seeded sample otherwise.

Shapes: ``M`` hidden states, ``n`` hidden units, ``Q`` machine states, ``S`` input symbols.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice, permutations

import numpy as np

from .fsm import StateMachine

__all__ = ["BitCoding", "bit_tables", "cluster_states", "find_bit_coding"]


def cluster_states(
    hidden: np.ndarray, n_clusters: int, *, seed: int = 0, n_init: int = 4, max_iter: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """k-means on hidden states (k-means++ seeding, best of ``n_init`` runs).

    Args:
        hidden: float ``(M, n)``.
        n_clusters: ``K``.
        seed: seed of the seeding.
        n_init: restarts; the lowest within-cluster sum of squares wins.
        max_iter: Lloyd iterations per run.

    Returns:
        int64 ``(M,)`` labels and float ``(K, n)`` centres.
    """
    rng = np.random.default_rng(seed)
    points = np.asarray(hidden, dtype=np.float64)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    k = min(n_clusters, len(points))
    for _ in range(n_init):
        centers = [points[rng.integers(len(points))]]
        for _ in range(1, k):
            dist = np.min(((points[:, None, :] - np.stack(centers)[None]) ** 2).sum(-1), axis=1)
            total = dist.sum()
            probs = dist / total if total > 0 else np.full(len(points), 1 / len(points))
            centers.append(points[rng.choice(len(points), p=probs)])
        center_array = np.stack(centers)
        for _ in range(max_iter):
            dist = ((points[:, None, :] - center_array[None]) ** 2).sum(-1)
            labels = dist.argmin(axis=1)
            moved = np.stack(
                [points[labels == j].mean(axis=0) if (labels == j).any() else center_array[j]
                 for j in range(k)]
            )  # fmt: skip
            if np.allclose(moved, center_array):
                break
            center_array = moved
        dist = ((points[:, None, :] - center_array[None]) ** 2).sum(-1)
        labels = dist.argmin(axis=1)
        inertia = float(dist.min(axis=1).sum())
        if best is None or inertia < best[0]:
            best = (inertia, labels, center_array)
    assert best is not None
    return best[1].astype(np.int64), best[2]


@dataclass(frozen=True)
class BitCoding:
    """An injective map from machine states to ``n_bits``-bit codes."""

    codes: np.ndarray
    """int64 ``(Q,)``: the code of each state (bit ``j`` is ``(code >> (n_bits - 1 - j)) & 1``)."""
    n_bits: int
    cost: float
    """The cost the coding was chosen by."""


def bit_tables(
    machine: StateMachine, codes: np.ndarray, n_bits: int
) -> tuple[np.ndarray, np.ndarray]:
    """Truth tables of a coded machine.

    Args:
        machine: the machine.
        codes: int64 ``(Q,)`` state codes.
        n_bits: bits per code.

    Returns:
        ``table`` int64 ``(Q·S, n_bits + d_in)`` (state bits, then the input) and ``targets``
        int64 ``(Q·S, n_bits + d_out)`` (next-state bits, then the outputs), one row per
        (state, symbol).
    """
    q, s = machine.transitions.shape
    shifts = np.arange(n_bits - 1, -1, -1)
    state_bits = (codes[:, None] >> shifts) & 1  # (Q, n_bits)
    rows_state = np.repeat(np.arange(q), s)
    rows_symbol = np.tile(np.arange(s), q)
    table = np.concatenate([state_bits[rows_state], machine.symbols[rows_symbol]], axis=1)
    next_bits = state_bits[machine.transitions.reshape(-1)]
    targets = np.concatenate([next_bits, machine.outputs.reshape(q * s, -1)], axis=1)
    return table.astype(np.int64), targets.astype(np.int64)


def find_bit_coding(
    machine: StateMachine,
    cost: Callable[[np.ndarray, np.ndarray], float],
    *,
    n_bits: int | None = None,
    max_codings: int = 40_320,
    max_scored: int = 64,
    seed: int = 0,
) -> BitCoding | None:
    """The coding of the machine's states with the lowest ``cost``.

    Args:
        machine: a (minimal) machine.
        cost: ``cost(table, targets)`` of the truth tables from :func:`bit_tables`; return
            ``inf`` for a coding whose formulas cannot be found.
        n_bits: bits per state; ``None`` means ``ceil(log2 Q)`` (at least 1).
        max_codings: codings enumerated at most.
        max_scored: codings scored at most (all when there are fewer; else the identity coding
            and a seeded sample).
        seed: seed of the sample.

    Returns:
        The best coding, or ``None`` if every scored coding costs ``inf``.
    """
    q = machine.n_states
    bits = n_bits if n_bits is not None else max(1, int(np.ceil(np.log2(max(q, 2)))))
    if 2**bits < q:
        return None
    codings = [
        np.array(c, dtype=np.int64) for c in islice(permutations(range(2**bits), q), max_codings)
    ]
    if len(codings) > max_scored:
        rng = np.random.default_rng(seed)
        picked = rng.choice(np.arange(1, len(codings)), max_scored - 1, replace=False)
        codings = [codings[0], *(codings[i] for i in sorted(picked))]
    best: BitCoding | None = None
    for codes in codings:
        value = cost(*bit_tables(machine, codes, bits))
        if np.isfinite(value) and (best is None or value < best.cost):
            best = BitCoding(codes=codes, n_bits=bits, cost=float(value))
    return best
