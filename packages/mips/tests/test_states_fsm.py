"""Finite-state machines: minimisation, extraction from (fake) hidden states, numberings."""

from __future__ import annotations

import time

import numpy as np

from interplab.mips.states import (
    extract_state_machine,
    extract_state_machine_by_behaviour,
    machine_from_tables,
    minimize_machine,
    state_numberings,
)


def all_bit_sequences(length: int) -> np.ndarray:
    codes = np.arange(2**length)
    return ((codes[:, None] >> np.arange(length - 1, -1, -1)) & 1)[..., None].astype(np.int64)


def test_minimisation_merges_equivalent_states_of_a_hand_built_machine() -> None:
    # Parity written with four states: 0/2 are "even", 1/3 are "odd".
    machine = machine_from_tables(
        symbols=[0, 1],
        transitions=[[2, 1], [3, 2], [0, 3], [1, 0]],
        outputs=[[0, 1], [1, 0], [0, 1], [1, 0]],
    )
    minimal = minimize_machine(machine)
    assert minimal.n_states == 2
    x = all_bit_sequences(6)
    assert np.array_equal(minimal.run(x), machine.run(x))
    assert np.array_equal(minimal.run(x)[..., 0], np.cumsum(x[..., 0], axis=1) % 2)


def test_mealy_form_merges_moore_states_that_only_differ_in_their_output() -> None:
    # Binary addition as a Moore machine: states (carry, sum bit) -> 4 states; Mealy needs 2.
    symbols = [(a, b) for a in (0, 1) for b in (0, 1)]
    states = [(c, s) for c in (0, 1) for s in (0, 1)]
    transitions = [
        [states.index(((c + a + b) // 2, (c + a + b) % 2)) for a, b in symbols] for c, _ in states
    ]
    moore = machine_from_tables(
        symbols, transitions, [s for _, s in states], initial=0, is_moore=True
    )
    minimal = minimize_machine(moore)
    assert minimal.n_states == 2
    assert minimal.transitions.tolist() == [[0, 0, 0, 1], [0, 1, 1, 1]]
    assert minimal.outputs[..., 0].tolist() == [[0, 1, 1, 0], [1, 0, 0, 1]]


def test_minimisation_drops_unreachable_states_and_numbers_breadth_first() -> None:
    machine = machine_from_tables(
        symbols=[0, 1],
        transitions=[[0, 0], [2, 1], [1, 2]],
        outputs=[[5, 5], [1, 2], [3, 4]],
        initial=1,
    )
    minimal = minimize_machine(machine)
    assert minimal.n_states == 2 and minimal.initial == 0
    assert minimal.transitions.tolist() == [[1, 0], [0, 1]]


def test_extraction_recovers_a_mod_3_counter_from_noisy_hidden_states() -> None:
    rng = np.random.default_rng(0)
    embed = np.array([[0.0, 0.0], [1.0, 0.2], [0.3, 1.1]])  # state r -> hidden vector

    def step(hidden: np.ndarray, x: np.ndarray) -> np.ndarray:
        r = np.argmin(((hidden[:, None, :] - embed[None]) ** 2).sum(-1), axis=1)
        return embed[(r + x[:, 0].astype(int)) % 3]

    def read(hidden: np.ndarray) -> np.ndarray:
        return np.argmin(((hidden[:, None, :] - embed[None]) ** 2).sum(-1), axis=1)[:, None]

    x = rng.integers(0, 3, size=(300, 8, 1))
    r = np.cumsum(x[..., 0], axis=1) % 3
    hidden = embed[r] + rng.normal(scale=0.01, size=(300, 8, 2))
    machine = extract_state_machine(hidden, x, r[..., None], step=step, read=read)
    assert machine is not None and machine.n_states == 3
    assert machine.symbols[:, 0].tolist() == [0, 1, 2]
    assert machine.transitions.tolist() == [[0, 1, 2], [1, 2, 0], [2, 0, 1]]
    late = time.monotonic() - 1.0
    assert (
        extract_state_machine(hidden, x, r[..., None], step=step, read=read, deadline=late) is None
    )


def test_numberings_read_states_as_last_output_and_as_chain_positions() -> None:
    # A saturating counter 0..3 starting at 2: each state is what it last printed, and the
    # states form a path. Breadth-first numbering visits 2, 1, 3, 0.
    transitions = [[max(q - 1, 0), min(q + 1, 3)] for q in range(4)]
    machine = minimize_machine(
        machine_from_tables([0, 1], transitions, list(range(4)), initial=2, is_moore=True)
    )
    found = {name: codes.tolist() for name, codes in state_numberings(machine)}
    assert found["bfs"] == [0, 1, 2, 3]
    assert found["last_output"] == [2, 1, 3, 0]  # the counter's value
    assert found["chain"] == [1, 2, 0, 3]  # the same path, walked from the other end
    assert len(state_numberings(machine)) == 24  # 4! orders, no duplicates


def test_behaviour_merges_drifting_states_that_act_alike() -> None:
    # Parity held in a drifting hidden value: sign gives the parity, the magnitude grows with
    # time. A grid sees many cells; running the "network" forward shows only two behaviours.
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, size=(200, 8, 1))
    parity = np.cumsum(x[..., 0], axis=1) % 2
    t = np.arange(1, 9)[None, :]
    hidden = ((2 * parity - 1) * (1 + 0.1 * t))[..., None].astype(float)

    def step(h: np.ndarray, inp: np.ndarray) -> np.ndarray:
        sign = np.where(h[:, 0] > 0, 1.0, -1.0)
        sign = np.where(h[:, 0] == 0, -1.0, sign)
        flipped = np.where(inp[:, 0] == 1, -sign, sign)
        return (flipped * (np.abs(h[:, 0]) + 0.1 + (h[:, 0] == 0)))[:, None]

    def read(h: np.ndarray) -> np.ndarray:
        return (h[:, :1] > 0).astype(np.int64)

    def rollout(h: np.ndarray, probes: np.ndarray) -> np.ndarray:
        out = np.zeros((len(h), len(probes), probes.shape[1], 1), dtype=np.int64)
        for p, probe in enumerate(probes):
            state = h.copy()
            for k in range(probe.shape[0]):
                state = step(state, np.repeat(probe[k][None], len(h), axis=0))
                out[:, p, k] = read(state)
        return out

    machine = extract_state_machine_by_behaviour(
        hidden, x, parity[..., None], rollout=rollout, step=step, read=read
    )
    assert machine is not None and machine.n_states == 2
    assert np.array_equal(machine.run(x)[..., 0], parity)
    late = time.monotonic() - 1.0
    assert (
        extract_state_machine_by_behaviour(
            hidden, x, parity[..., None], rollout=rollout, step=step, read=read, deadline=late
        )
        is None
    )
