"""Finite-state machines read off an RNN's hidden states (beyond the paper).

For tasks whose states are neither lattice points nor a few bits: quantise the hidden states on a
grid (coarse to fine), take each transition ``(cell, input) → cell`` by majority over the data,
ask the network itself for transitions the data never showed (``f`` applied to the cell's mean
state), read each cell's output from ``g``, then minimise. Minimisation is done in Mealy form
(output on the transition, ``λ(q, x) = out(δ(q, x))``), which also merges the Moore states that
only differ in what they just printed (a carry adder keeps 2 states, not 4). The first grid whose
minimal machine reproduces every training output wins.

Shapes: ``N`` sequences, ``L`` positions, ``d_in`` / ``d_out`` integers per position, ``Q``
states, ``S`` input symbols.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import permutations

import numpy as np

from ..sequences import IntArray

__all__ = [
    "StateMachine",
    "extract_state_machine",
    "extract_state_machine_by_behaviour",
    "machine_from_clusters",
    "machine_from_tables",
    "minimize_machine",
    "state_numberings",
]

StepFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``(hidden (B, n), inputs (B, d_in)) -> next hidden (B, n)``, e.g. an RNN's ``f``."""
ReadFn = Callable[[np.ndarray], np.ndarray]
"""``hidden (B, n) -> rounded outputs (B, d_out)``, e.g. ``round(g(h))``."""
RolloutFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``(hidden (B, n), continuations (P, k, d_in)) -> rounded outputs (B, P, k, d_out)``: the
network run from each state on each continuation."""


@dataclass(frozen=True)
class StateMachine:
    """A deterministic Mealy machine over a finite input alphabet (states numbered from 0)."""

    symbols: np.ndarray
    """int64 ``(S, d_in)``: the input alphabet, in lexicographic order."""
    transitions: np.ndarray
    """int64 ``(Q, S)``: ``transitions[q, s]`` is the state after reading symbol ``s`` in ``q``."""
    outputs: np.ndarray
    """int64 ``(Q, S, d_out)``: the output printed on that transition."""
    initial: int
    """The state before the first input."""

    @property
    def n_states(self) -> int:
        """``Q``."""
        return int(self.transitions.shape[0])

    def symbol_index(self, inputs: IntArray) -> np.ndarray:
        """Index of each input in :attr:`symbols`: int64 ``(N, L, d_in)`` to ``(N, L)``.

        Raises:
            ValueError: an input is not in the alphabet.
        """
        flat = inputs.reshape(-1, inputs.shape[-1])
        lookup = {tuple(s): i for i, s in enumerate(self.symbols.tolist())}
        try:
            index = np.array([lookup[tuple(v)] for v in flat.tolist()], dtype=np.int64)
        except KeyError as error:
            raise ValueError(f"input {error.args[0]} is not in the machine's alphabet") from None
        return index.reshape(inputs.shape[:-1])

    def state_trajectory(self, inputs: IntArray) -> np.ndarray:
        """States visited: int64 ``(N, L, d_in)`` to ``(N, L + 1)``, column 0 the initial."""
        symbols = self.symbol_index(inputs)
        states = np.empty((symbols.shape[0], symbols.shape[1] + 1), dtype=np.int64)
        states[:, 0] = self.initial
        for t in range(symbols.shape[1]):
            states[:, t + 1] = self.transitions[states[:, t], symbols[:, t]]
        return states

    def run(self, inputs: IntArray) -> IntArray:
        """Outputs of the machine: int64 ``(N, L, d_in)`` to ``(N, L, d_out)``."""
        symbols = self.symbol_index(inputs)
        states = self.state_trajectory(inputs)
        return np.asarray(self.outputs[states[:, :-1], symbols], dtype=np.int64)


def _reachable(transitions: np.ndarray, initial: int, n_symbols: int) -> list[int]:
    """States reachable from ``initial`` in breadth-first order, symbols in ascending order."""
    order, seen, queue = [], {initial}, deque([initial])
    while queue:
        q = queue.popleft()
        order.append(q)
        for s in range(n_symbols):
            nxt = int(transitions[q, s])
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return order


def minimize_machine(machine: StateMachine) -> StateMachine:
    """The minimal equivalent Mealy machine (Moore's partition refinement), BFS-numbered.

    Unreachable states are dropped; states are renumbered in breadth-first order from the
    initial state (which becomes 0), symbols taken in ascending order.

    Args:
        machine: any machine.

    Returns:
        The minimal machine computing the same outputs.
    """
    q, s = machine.transitions.shape
    flat_outputs = machine.outputs.reshape(q, -1)
    _, classes = np.unique(flat_outputs, axis=0, return_inverse=True)
    classes = classes.reshape(-1)
    while True:
        signature = np.concatenate([classes[:, None], classes[machine.transitions]], axis=1)
        _, refined = np.unique(signature, axis=0, return_inverse=True)
        refined = refined.reshape(-1)
        if refined.max() == classes.max():
            classes = refined
            break
        classes = refined
    n_classes = int(classes.max()) + 1
    representative = np.zeros(n_classes, dtype=np.int64)
    representative[classes[::-1]] = np.arange(q)[::-1]
    transitions = classes[machine.transitions[representative]]
    outputs = machine.outputs[representative]
    order = _reachable(transitions, int(classes[machine.initial]), s)
    renumber = np.full(n_classes, -1, dtype=np.int64)
    renumber[order] = np.arange(len(order))
    return StateMachine(
        symbols=machine.symbols,
        transitions=renumber[transitions[order]],
        outputs=outputs[order],
        initial=0,
    )


def machine_from_tables(
    symbols: Sequence[Sequence[int]],
    transitions: Sequence[Sequence[int]],
    outputs: Sequence[Sequence[int]] | Sequence[Sequence[Sequence[int]]],
    *,
    initial: int = 0,
    is_moore: bool = False,
) -> StateMachine:
    """Build a machine from plain tables (handy for tests and hand-written machines).

    Args:
        symbols: the input alphabet, ``S`` tuples of ``d_in`` ints (or plain ints).
        transitions: ``Q`` rows of ``S`` next states.
        outputs: Mealy: ``Q`` rows of ``S`` outputs (ints or ``d_out``-tuples); Moore
            (``is_moore``): one output per state, printed on entering it.
        initial: the initial state.
        is_moore: read ``outputs`` as per-state (Moore) outputs.

    Returns:
        The machine (not minimised).
    """
    sym = np.array(symbols, dtype=np.int64).reshape(len(symbols), -1)
    trans = np.array(transitions, dtype=np.int64)
    out = np.array(outputs, dtype=np.int64)
    if is_moore:
        per_state = out.reshape(trans.shape[0], -1)
        out = per_state[trans]
    else:
        out = out.reshape(trans.shape[0], trans.shape[1], -1)
    return StateMachine(symbols=sym, transitions=trans, outputs=out, initial=initial)


def _majority(keys: np.ndarray, values: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """Most frequent value row per key: ``(n_keys, v)`` values and a bool ``(n_keys,)`` mask."""
    rows = np.concatenate([keys[:, None], values], axis=1)
    unique, counts = np.unique(rows, axis=0, return_counts=True)
    order = np.lexsort((-counts, unique[:, 0]))
    unique = unique[order]
    first = np.ones(len(unique), dtype=bool)
    first[1:] = unique[1:, 0] != unique[:-1, 0]
    winners = unique[first]
    table = np.zeros((n_keys, values.shape[1]), dtype=np.int64)
    seen = np.zeros(n_keys, dtype=bool)
    table[winners[:, 0]] = winners[:, 1:]
    seen[winners[:, 0]] = True
    return table, seen


def _machine_at_resolution(
    hidden: np.ndarray,
    data_outputs: np.ndarray,
    symbols: np.ndarray,
    symbol_index: np.ndarray,
    step: StepFn,
    read: ReadFn,
    cell_size: float,
    max_states: int,
) -> StateMachine | None:
    n_seq, length, n = hidden.shape
    flat = hidden.reshape(-1, n)
    keys = np.round(np.concatenate([np.zeros((1, n)), flat]) / cell_size).astype(np.int64)
    unique_keys, cells = np.unique(keys, axis=0, return_inverse=True)
    cells = cells.reshape(-1)
    if len(unique_keys) > max_states:
        return None
    key_to_cell = {tuple(k): i for i, k in enumerate(unique_keys.tolist())}
    n_cells, n_symbols = len(unique_keys), len(symbols)
    initial = int(cells[0])
    traj = np.concatenate([np.full((n_seq, 1), initial), cells[1:].reshape(n_seq, length)], axis=1)
    pair = (traj[:, :-1] * n_symbols + symbol_index).reshape(-1)
    trans_table, seen = _majority(pair, traj[:, 1:].reshape(-1, 1), n_cells * n_symbols)
    transitions = trans_table[:, 0].reshape(n_cells, n_symbols)
    seen = seen.reshape(n_cells, n_symbols)
    centers = np.zeros((n_cells, n))
    np.add.at(centers, cells[1:], flat)
    member_counts = np.bincount(cells[1:], minlength=n_cells).astype(np.float64)
    centers = centers / np.maximum(member_counts, 1.0)[:, None]
    centers[initial] = 0.0 if member_counts[initial] == 0 else centers[initial]
    state_out = read(centers)
    # Outputs of cells seen in the data: the majority of the outputs observed in them.
    majority_out, has_out = _majority(cells[1:], data_outputs.reshape(len(flat), -1), n_cells)
    state_out[has_out] = majority_out[has_out]
    # Transitions never observed: ask the network from the cell's mean state, exploring new
    # cells on the same grid while there is room, else taking the nearest cell.
    missing = deque((int(c), int(s)) for c, s in zip(*np.nonzero(~seen), strict=True))
    transitions_list = transitions.tolist()
    centers_list = list(centers)
    outputs_list = list(state_out)
    while missing:
        batch = [missing.popleft() for _ in range(len(missing))]
        starts = np.stack([centers_list[c] for c, _ in batch])
        nexts = step(starts, symbols[[s for _, s in batch]].astype(np.float64))
        next_keys = np.round(nexts / cell_size).astype(np.int64)
        centers_arr = np.stack(centers_list)
        for (c, s), h_next, key in zip(batch, nexts, next_keys.tolist(), strict=True):
            target = key_to_cell.get(tuple(key))
            if target is None and len(centers_list) < max_states:
                target = len(centers_list)
                key_to_cell[tuple(key)] = target
                centers_list.append(h_next)
                outputs_list.append(read(h_next[None])[0])
                transitions_list.append([-1] * n_symbols)
                missing.extend((target, t) for t in range(n_symbols))
            elif target is None:
                target = int(_nearest(h_next[None], centers_arr)[0])
            transitions_list[c][s] = target
    transitions = np.array(transitions_list, dtype=np.int64)
    out_per_state = np.stack(outputs_list).astype(np.int64)
    machine = StateMachine(
        symbols=symbols,
        transitions=transitions,
        outputs=out_per_state[transitions],
        initial=initial,
    )
    return minimize_machine(machine)


def machine_from_clusters(
    labels: np.ndarray,
    centers: np.ndarray,
    inputs: IntArray,
    outputs: IntArray,
    *,
    step: StepFn,
) -> StateMachine:
    """Minimal machine whose states are given clusters of the hidden states (e.g. k-means).

    Transitions and outputs are majorities over the data; a transition the data never showed
    is the cluster nearest to ``step(center, input)``. The state before the first input is the
    cluster nearest to the zero vector.

    Args:
        labels: int64 ``(N, L)`` cluster of each hidden state ``h_0 … h_{L-1}``.
        centers: float ``(K, n)`` cluster centres.
        inputs: int64 ``(N, L, d_in)``.
        outputs: int64 ``(N, L, d_out)``.
        step: the network's transition on float arrays.

    Returns:
        The minimised machine (check it against the data with :meth:`StateMachine.run`).
    """
    symbols, symbol_index = np.unique(
        inputs.reshape(-1, inputs.shape[-1]), axis=0, return_inverse=True
    )
    symbol_index = symbol_index.reshape(inputs.shape[:2])
    n_seq, length = labels.shape
    k, n_symbols = len(centers), len(symbols)
    initial = int(np.argmin((centers**2).sum(axis=1)))
    traj = np.concatenate([np.full((n_seq, 1), initial), labels], axis=1)
    pair = (traj[:, :-1] * n_symbols + symbol_index).reshape(-1)
    table, seen = _majority(pair, traj[:, 1:].reshape(-1, 1), k * n_symbols)
    transitions = table[:, 0].reshape(k, n_symbols)
    seen = seen.reshape(k, n_symbols)
    state_out, _ = _majority(labels.reshape(-1), outputs.reshape(n_seq * length, -1), k)
    for c, s in zip(*np.nonzero(~seen), strict=True):
        h_next = step(centers[[c]], symbols[[s]].astype(np.float64))[0]
        transitions[c, s] = int(np.argmin(((centers - h_next) ** 2).sum(axis=1)))
    machine = StateMachine(
        symbols=symbols, transitions=transitions, outputs=state_out[transitions], initial=initial
    )
    return minimize_machine(machine)


def extract_state_machine(
    hidden: np.ndarray,
    inputs: IntArray,
    outputs: IntArray,
    *,
    step: StepFn,
    read: ReadFn,
    resolutions: Sequence[float] = (0.3, 0.1, 0.03, 0.01, 0.003),
    max_states: int = 3000,
    deadline: float | None = None,
) -> StateMachine | None:
    """Minimal machine read off the hidden states, at the coarsest grid that fits the data.

    Args:
        hidden: float ``(N, L, n)`` hidden states ``h_0 … h_{L-1}`` on ``inputs`` (the state
            before the first input is the zero vector, as in the RNN).
        inputs: int64 ``(N, L, d_in)``.
        outputs: int64 ``(N, L, d_out)``, the outputs the machine must reproduce.
        step: the network's transition on float arrays (for transitions the data lacks).
        read: the network's rounded readout on float arrays.
        resolutions: grid cell sizes, as fractions of the largest absolute hidden value,
            tried coarse to fine.
        max_states: give up on a grid with more cells than this.
        deadline: ``time.monotonic()`` after which no finer grid is tried.

    Returns:
        The first minimal machine that reproduces ``outputs`` exactly, or ``None``.
    """
    symbols, symbol_index = np.unique(
        inputs.reshape(-1, inputs.shape[-1]), axis=0, return_inverse=True
    )
    symbol_index = symbol_index.reshape(inputs.shape[:2])
    scale = max(float(np.abs(hidden).max(initial=0.0)), 1e-9)
    for resolution in resolutions:
        if deadline is not None and time.monotonic() > deadline:
            return None
        machine = _machine_at_resolution(
            hidden, outputs, symbols, symbol_index, step, read, resolution * scale, max_states
        )
        if machine is None:
            break
        if np.array_equal(machine.run(inputs), outputs):
            return machine
    return None


def _nearest(points: np.ndarray, centers: np.ndarray, *, chunk: int = 1024) -> np.ndarray:
    """Index of the nearest centre to each point (Euclidean), in chunks to bound memory."""
    norms = (centers**2).sum(axis=1)
    found = []
    for start in range(0, len(points), chunk):
        block = points[start : start + chunk]
        found.append(np.argmin(norms[None, :] - 2 * block @ centers.T, axis=1))
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def _probes(symbols: np.ndarray, horizon: int, max_probes: int, seed: int) -> np.ndarray:
    """All continuations of length ``horizon`` if few, else a seeded sample: ``(P, k, d_in)``."""
    s = len(symbols)
    if s**horizon <= max_probes:
        index = (
            np.array(np.meshgrid(*[np.arange(s)] * horizon, indexing="ij")).reshape(horizon, -1).T
        )
    else:
        index = np.random.default_rng(seed).integers(0, s, size=(max_probes, horizon))
    return symbols[index]


def extract_state_machine_by_behaviour(
    hidden: np.ndarray,
    inputs: IntArray,
    outputs: IntArray,
    *,
    rollout: RolloutFn,
    step: StepFn,
    read: ReadFn,
    horizons: Sequence[int] = (1, 2, 3, 4, 6, 8, 10),
    max_probes: int = 256,
    max_unique_states: int = 3000,
    seed: int = 0,
    deadline: float | None = None,
) -> StateMachine | None:
    """Minimal machine whose states are hidden states that behave alike (Nerode-style).

    Two hidden states are merged when the network, run from each, prints the same outputs on
    every probe continuation of ``horizon`` steps (all of them when there are at most
    ``max_probes``). Unlike a grid, this ignores how the network drifts in hidden space and
    keeps only distinctions that change outputs. Transitions and outputs are majorities over
    the data; a transition the data lacks goes to the state nearest ``step(state, input)``.
    Horizons grow until the machine reproduces the data.

    Args:
        hidden: float ``(N, L, n)`` hidden states on ``inputs``.
        inputs: int64 ``(N, L, d_in)``.
        outputs: int64 ``(N, L, d_out)``.
        rollout: the network run from given states on given continuations (rounded outputs).
        step: the network's transition on float arrays.
        read: the network's rounded readout on float arrays.
        horizons: probe lengths tried, shortest first.
        max_probes: continuations per horizon at most.
        max_unique_states: use only the leading sequences whose distinct states fit this.
        seed: seed of sampled continuations.
        deadline: ``time.monotonic()`` after which no longer horizon is tried.

    Returns:
        The first machine that reproduces the data it was built from, minimised; or ``None``.
    """
    n_seq, length, n = hidden.shape
    scale = max(float(np.abs(hidden).max(initial=0.0)), 1e-9)
    keys = np.round(hidden.reshape(-1, n) / (1e-3 * scale)).astype(np.int64)
    _, first_seen = np.unique(keys, axis=0, return_index=True)
    per_sequence = np.bincount(np.sort(first_seen) // length, minlength=n_seq).cumsum()
    used = int(np.searchsorted(per_sequence, max_unique_states, side="right"))
    used = max(1, min(n_seq, used))
    hidden, inputs, outputs = hidden[:used], inputs[:used], outputs[:used]
    flat = np.concatenate([np.zeros((1, n)), hidden.reshape(-1, n)])
    keys = np.round(flat / (1e-3 * scale)).astype(np.int64)
    _, first, where = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    where = where.reshape(-1)
    reps = flat[first]
    symbols, symbol_index = np.unique(
        inputs.reshape(-1, inputs.shape[-1]), axis=0, return_inverse=True
    )
    symbol_index = symbol_index.reshape(used, length)
    traj = np.concatenate([np.full((used, 1), where[0]), where[1:].reshape(used, length)], axis=1)
    for horizon in horizons:
        if deadline is not None and time.monotonic() > deadline:
            return None
        probes = _probes(symbols, horizon, max_probes, seed)
        signature = rollout(reps, probes).reshape(len(reps), -1)
        _, classes = np.unique(signature, axis=0, return_inverse=True)
        classes = classes.reshape(-1)
        machine = _machine_from_classes(
            classes, reps, traj, symbol_index, symbols, outputs, step, read
        )
        if np.array_equal(machine.run(inputs), outputs):
            return machine
    return None


def _machine_from_classes(
    classes: np.ndarray,
    reps: np.ndarray,
    traj: np.ndarray,
    symbol_index: np.ndarray,
    symbols: np.ndarray,
    outputs: IntArray,
    step: StepFn,
    read: ReadFn,
) -> StateMachine:
    n_classes, n_symbols = int(classes.max()) + 1, len(symbols)
    state_traj = classes[traj]
    pair = (state_traj[:, :-1] * n_symbols + symbol_index).reshape(-1)
    trans, seen = _majority(pair, state_traj[:, 1:].reshape(-1, 1), n_classes * n_symbols)
    outs, _ = _majority(pair, outputs.reshape(len(pair), -1), n_classes * n_symbols)
    transitions = trans[:, 0].reshape(n_classes, n_symbols)
    out_table = outs.reshape(n_classes, n_symbols, -1)
    missing = np.argwhere(~seen.reshape(n_classes, n_symbols))
    if len(missing):
        representative = np.zeros(n_classes, dtype=np.int64)
        representative[classes[::-1]] = np.arange(len(classes))[::-1]
        starts = reps[representative[missing[:, 0]]]
        nexts = step(starts, symbols[missing[:, 1]].astype(np.float64))
        transitions[missing[:, 0], missing[:, 1]] = classes[_nearest(nexts, reps)]
        out_table[missing[:, 0], missing[:, 1]] = read(nexts)
    machine = StateMachine(
        symbols=symbols, transitions=transitions, outputs=out_table, initial=int(state_traj[0, 0])
    )
    return minimize_machine(machine)


def _chain_orders(machine: StateMachine) -> list[list[int]]:
    """If the transition graph (undirected, no self loops) is a simple path, both walks."""
    q = machine.n_states
    neighbours: list[set[int]] = [set() for _ in range(q)]
    for a in range(q):
        for b in machine.transitions[a].tolist():
            if a != b:
                neighbours[a].add(b)
                neighbours[b].add(a)
    if q < 3 or any(len(nb) > 2 for nb in neighbours):
        return []
    ends = [i for i in range(q) if len(neighbours[i]) == 1]
    if len(ends) != 2:
        return []
    walks = []
    for end in ends:
        walk, previous = [end], -1
        while len(walk) < q:
            options = [v for v in neighbours[walk[-1]] if v != previous]
            if len(options) != 1:
                return []
            previous = walk[-1]
            walk.append(options[0])
        walks.append(walk)
    return walks


def state_numberings(
    machine: StateMachine, *, max_permutations: int = 24
) -> list[tuple[str, np.ndarray]]:
    """Candidate integer codes for the states, to regress transitions and outputs on.

    ``bfs``: breadth-first order from the initial state (remainders of a divider come out in
    order). ``last_output``: the output printed on entering the state, when that determines it
    (running sums, maxima). ``chain``: position along the path when the states form one
    (counters). ``perm``: every numbering when there are few states.

    Args:
        machine: a minimal machine (states ``0 … Q-1``).
        max_permutations: enumerate all numberings when ``Q! <= max_permutations``.

    Returns:
        ``(name, codes)`` pairs, ``codes`` int64 ``(Q,)``, without duplicates.
    """
    q = machine.n_states
    found: dict[tuple[int, ...], str] = {}
    found[tuple(range(q))] = "bfs"
    if machine.outputs.shape[2] == 1:
        entering: list[set[int]] = [set() for _ in range(q)]
        for a in range(q):
            for s in range(machine.transitions.shape[1]):
                entering[int(machine.transitions[a, s])].add(int(machine.outputs[a, s, 0]))
        others = [e for i, e in enumerate(entering) if i != machine.initial or e]
        if all(len(e) == 1 for e in others):
            values = [next(iter(e)) if e else None for e in entering]
            known = [v for v in values if v is not None]
            if len(set(known)) == len(known):
                fills = [0, min(known) - 1, max(known) + 1] if None in values else [0]
                for fill in fills:
                    filled = tuple(fill if v is None else v for v in values)
                    if len(set(filled)) == q:
                        found.setdefault(filled, "last_output")
    for walk in _chain_orders(machine):
        codes = [0] * q
        for position, state in enumerate(walk):
            codes[state] = position
        found.setdefault(tuple(codes), "chain")
    factorial = 1
    for i in range(2, q + 1):
        factorial *= i
    if factorial <= max_permutations:
        for perm in permutations(range(q)):
            found.setdefault(tuple(perm), "perm")
    return [(name, np.array(codes, dtype=np.int64)) for codes, name in found.items()]
