"""Bit finder: k-means groups and the choice of bit codes."""

from __future__ import annotations

import numpy as np

from interplab.mips.regress import fit_boolean, render
from interplab.mips.routes.bits import boolean_cost as boolean_length
from interplab.mips.states import bit_tables, cluster_states, find_bit_coding, machine_from_tables


def test_kmeans_separates_well_separated_groups() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0], [5.0, 5.0]])
    points = np.concatenate([c + rng.normal(scale=0.1, size=(50, 2)) for c in centres])
    labels, found = cluster_states(points, 4, seed=0)
    assert len(set(labels.tolist())) == 4
    for group in range(4):
        assert len(set(labels[group * 50 : (group + 1) * 50].tolist())) == 1
    assert np.allclose(np.sort(found, axis=0), np.sort(centres, axis=0), atol=0.1)


def test_bit_coding_of_a_two_bit_shift_register() -> None:
    # States remember (x_{t-1}, x_{t-2}); output x_{t-2}. The natural coding is a shift.
    states = [(p, q) for p in (0, 1) for q in (0, 1)]
    transitions = [[states.index((x, p)) for x in (0, 1)] for p, _ in states]
    outputs = [[q, q] for _, q in states]
    machine = machine_from_tables([0, 1], transitions, outputs)
    coding = find_bit_coding(machine, boolean_length)
    assert coding is not None and coding.n_bits == 2
    table, targets = bit_tables(machine, coding.codes, coding.n_bits)
    assert table.shape == (8, 3) and targets.shape == (8, 3)
    formulas = [render(fit_boolean(table, targets[:, j]), ["b0", "b1", "x"]) for j in range(3)]  # type: ignore[arg-type]
    assert sorted(formulas) == ["b0", "b1", "x"]


def test_bit_coding_gives_none_when_codes_are_too_few() -> None:
    machine = machine_from_tables([0], [[1], [2], [0]], [[0], [1], [0]])
    assert find_bit_coding(machine, boolean_length, n_bits=1) is None
