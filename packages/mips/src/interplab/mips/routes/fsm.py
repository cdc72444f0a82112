"""FSM route: the minimal machine behind the hidden states, with formulas or tables.

States are numbered a few ways (breadth-first, last output, position on a chain, every order
when few) and the first numbering whose transition and output both regress to formulas wins;
functions without a formula are printed as transition tables, for small machines only.

Shapes: ``N`` sequences, ``L`` positions, ``Q`` states, ``S`` input symbols.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import numpy as np

from ..codegen import ProgramSpec, Table
from ..regress.chain import Fit
from ..regress.enumerate import Grammar
from ..rnn import GeneralRNN, hidden_states
from ..sequences import IntArray
from ..states.fsm import (
    StateMachine,
    extract_state_machine,
    extract_state_machine_by_behaviour,
    state_numberings,
)
from ._common import RouteResult, fit_all, grammar_for, input_names, read_fn, rollout_fn, step_fn

__all__ = ["fsm_route", "machine_program", "read_machine"]


def _machine_tables(machine: StateMachine, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q, s = machine.transitions.shape
    states = np.repeat(np.arange(q), s)
    symbols = np.tile(np.arange(s), q)
    table = np.concatenate([codes[states][:, None], machine.symbols[symbols]], axis=1)
    targets = np.concatenate(
        [codes[machine.transitions.reshape(-1)][:, None], machine.outputs.reshape(q * s, -1)],
        axis=1,
    )
    return table.astype(np.int64), targets.astype(np.int64)


def _as_table(name: str, table: np.ndarray, target: np.ndarray, columns: tuple[int, ...]) -> Table:
    mapping = {
        tuple(int(v) for v in row[list(columns)]): int(t)
        for row, t in zip(table, target, strict=True)
    }
    return Table(name=name, columns=columns, mapping=mapping)


def read_machine(
    model: GeneralRNN,
    inputs: IntArray,
    outputs: IntArray,
    *,
    max_states: int = 512,
    deadline: float | None = None,
) -> StateMachine | None:
    """The minimal machine behind the network's hidden states, or ``None``.

    Behaviour first (states merged when the network prints the same on probe continuations),
    then a grid over hidden space. A machine is kept only if it reproduces the data, has at
    most ``max_states`` states, and has at most a quarter as many states as the data has
    distinct prefixes (else it is a memorised prefix tree, not a state machine).

    Args:
        model: the (simplified) network.
        inputs: int64 ``(N, L, d_in)``.
        outputs: int64 ``(N, L, d_out)``.
        max_states: largest machine accepted.
        deadline: ``time.monotonic()`` after which the extractors stop refining (``None``
            if they may take as long as they need).

    Returns:
        The machine, or ``None``.
    """
    hidden = hidden_states(model, inputs)
    step, read = step_fn(model), read_fn(model)
    length = inputs.shape[1]
    prefixes = sum(
        len(np.unique(inputs[:, : t + 1].reshape(len(inputs), -1), axis=0)) for t in range(length)
    )
    extractors: list[Callable[[], StateMachine | None]] = [
        partial(
            extract_state_machine_by_behaviour,
            hidden, inputs, outputs, rollout=rollout_fn(model), step=step, read=read,
            deadline=deadline,
        ),
        partial(
            extract_state_machine, hidden, inputs, outputs, step=step, read=read,
            deadline=deadline,
        ),
    ]  # fmt: skip
    for extract in extractors:
        machine = extract()
        if machine is None:
            continue
        if not np.array_equal(machine.run(inputs), outputs):
            continue
        if machine.n_states <= max_states and 4 * machine.n_states <= prefixes:
            return machine
    return None


def fsm_route(
    model: GeneralRNN,
    inputs: IntArray,
    outputs: IntArray,
    *,
    machine: StateMachine | None = None,
    time_budget_s: float = 30.0,
    max_table_states: int = 128,
) -> RouteResult:
    """Program from the minimal machine read off the hidden states.

    Args:
        model: the (simplified) network.
        inputs: int64 ``(N, L, d_in)``.
        outputs: int64 ``(N, L, d_out)``.
        machine: the machine from :func:`read_machine`, if already computed.
        time_budget_s: budget for extraction and regressions.
        max_table_states: largest machine printed as a table when no formula is found.

    Returns:
        The route's result (a Mealy program: outputs read the state before the step).
    """
    started = time.monotonic()
    deadline = started + time_budget_s
    result = RouteResult("fsm")
    if machine is None:
        machine = read_machine(model, inputs, outputs, deadline=deadline)
    if machine is None:
        result.reason = "no small machine behind the hidden states reproduces the data"
        result.seconds = time.monotonic() - started
        return result
    result.details = {"n_states": machine.n_states, "n_symbols": len(machine.symbols)}
    spec, backends, reason = machine_program(
        machine, inputs, deadline=deadline, max_table_states=max_table_states
    )
    result.spec, result.backends, result.reason = spec, backends, reason
    result.seconds = time.monotonic() - started
    return result


_FSM_NOTE = "Route: minimal finite-state machine behind the RNN's hidden states."


def machine_program(
    machine: StateMachine,
    inputs: IntArray,
    *,
    deadline: float,
    max_table_states: int = 128,
    max_table_entries: int = 4096,
    route_note: str = _FSM_NOTE,
) -> tuple[ProgramSpec | None, list[str], str]:
    """Formulas (or tables) for a machine's transition and output functions.

    Args:
        machine: a minimal machine.
        inputs: int64 ``(N, L, d_in)`` (for the grammar's constants).
        deadline: ``time.monotonic()`` after which regressions stop.
        max_table_states: largest machine printed as a table.
        max_table_entries: largest table printed for a function without a formula.
        route_note: first docstring line of the program.

    Returns:
        ``(spec, backends, reason)``; ``spec`` is ``None`` when a table would be too large.
    """
    d_in = machine.symbols.shape[1]
    names_in = input_names(d_in)
    q, s = machine.transitions.shape
    grammar = grammar_for(inputs, (q,))
    if q == 1:
        table = machine.symbols.astype(np.int64)
        targets = machine.outputs[0]
        fits = fit_all(table, targets, grammar, deadline, per_target_s=5.0)
        columns = tuple(range(d_in))
        outs = [
            f.expr
            if f is not None
            else _as_table(f"OUTPUT{j or ''}", table, targets[:, j], columns)
            for j, f in enumerate(fits)
        ]
        spec = ProgramSpec(
            input_names=names_in, state_names=(), initial_state=(), next_state=(),
            outputs=tuple(outs), is_moore=False,
            notes=(route_note, "The machine has one state: each output depends on its input only."),
        )  # fmt: skip
        return spec, [f.backend if f else "table" for f in fits], ""
    numberings = state_numberings(machine)
    best: tuple[int, str, np.ndarray, list[Fit | None]] | None = None
    for i, (name, codes) in enumerate(numberings):
        table, targets = _machine_tables(machine, codes)
        heavy = i < 4
        per_target = 6.0 if heavy else 0.3
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        small = grammar if heavy else Grammar(constants=grammar.constants, max_size=5)
        fits = fit_all(table, targets, small, deadline, per_target_s=min(per_target, remaining))
        missing = sum(f is None for f in fits)
        if best is None or missing < best[0]:
            best = (missing, name, codes, fits)
        if missing == 0:
            break
    assert best is not None
    missing, numbering, codes, fits = best
    table, targets = _machine_tables(machine, codes)
    if missing and (q * s > max_table_entries or q > max_table_states):
        return None, [], f"{q} states × {s} symbols: no formula, and too large for a table"
    columns = tuple(range(1 + d_in))
    updates = [
        f.expr if f is not None else _as_table("NEXT_STATE", table, targets[:, 0], columns)
        for f in fits[:1]
    ]
    outs = [
        f.expr
        if f is not None
        else _as_table(f"OUTPUT{j or ''}", table, targets[:, 1 + j], columns)
        for j, f in enumerate(fits[1:])
    ]
    notes = (
        route_note,
        f"The machine has {q} states, numbered by {numbering!r}; the output is printed on each",
        "transition from the state before the step and the current input.",
    )
    spec = ProgramSpec(
        input_names=names_in,
        state_names=("state",),
        initial_state=(int(codes[machine.initial]),),
        next_state=tuple(updates),
        outputs=tuple(outs),
        is_moore=False,
        notes=notes,
        state_comments=(f"one of {q} states",),
    )
    return spec, [f.backend if f else "table" for f in fits], ""
