"""Bits route: the paper's bit finder.

k-means groups of hidden states (2, 4, 8) made into a machine, or a small machine from the FSM
reader, its states coded as bits, each bit and output a Boolean formula (0/1 inputs and outputs
only).

Shapes: ``N`` sequences, ``L`` positions, ``n`` hidden units.
"""

from __future__ import annotations

import time

import numpy as np

from ..codegen import ProgramSpec
from ..regress.boolean import fit_boolean
from ..regress.expr import render
from ..rnn import GeneralRNN, hidden_states
from ..sequences import IntArray
from ..states.bits import bit_tables, cluster_states, find_bit_coding
from ..states.fsm import StateMachine, machine_from_clusters
from ._common import RouteResult, input_names, step_fn

__all__ = ["bits_route", "boolean_cost"]


def boolean_cost(table: np.ndarray, targets: np.ndarray) -> float:
    """Characters of the shortest Boolean formulas for every output column (inf if none)."""
    names = [f"v{j}" for j in range(table.shape[1])]
    total = 0
    for j in range(targets.shape[1]):
        expr = fit_boolean(table, targets[:, j])
        if expr is None:
            return float("inf")
        total += len(render(expr, names))
    return float(total)


def bits_route(
    model: GeneralRNN,
    inputs: IntArray,
    outputs: IntArray,
    *,
    machine: StateMachine | None = None,
    seed: int = 0,
    time_budget_s: float = 30.0,
) -> RouteResult:
    """Program from k-means groups of hidden states coded as bits (0/1 inputs and outputs).

    Args:
        model: the (simplified) network.
        inputs: int64 ``(N, L, d_in)`` of 0/1 values.
        outputs: int64 ``(N, L, d_out)`` of 0/1 values.
        machine: a machine from :func:`read_machine` to code instead when no k-means grouping
            reproduces the data (used if it has at most 8 states).
        seed: seed of k-means.
        time_budget_s: budget (clustering and codings stop when it runs out).

    Returns:
        The route's result (a Mealy program over state bits).
    """
    started = time.monotonic()
    result = RouteResult("bits")
    if not (np.isin(inputs, (0, 1)).all() and np.isin(outputs, (0, 1)).all()):
        result.reason = "inputs or outputs are not bits"
        return result
    hidden = hidden_states(model, inputs)
    flat = hidden.reshape(-1, hidden.shape[-1])
    sample = flat[:: max(1, len(flat) // 4000)]
    grouped = None
    for k in (2, 4, 8):
        if time.monotonic() - started > time_budget_s:
            break
        _, centers = cluster_states(sample, k, seed=seed)
        labels = np.argmin(((flat[:, None, :] - centers[None]) ** 2).sum(-1), axis=1)
        candidate = machine_from_clusters(
            labels.reshape(hidden.shape[:2]), centers, inputs, outputs, step=step_fn(model)
        )
        if np.array_equal(candidate.run(inputs), outputs):
            grouped = candidate
            break
    source = "k-means groups of the RNN's hidden states"
    if grouped is None and machine is not None and machine.n_states <= 8:
        grouped, source = machine, "states of the machine behind the RNN's hidden states"
    if grouped is None:
        result.reason = "no clustering into 2, 4 or 8 groups reproduces the data"
        result.seconds = time.monotonic() - started
        return result
    machine = grouped
    coding = find_bit_coding(machine, boolean_cost)
    if coding is None:
        result.reason = f"no coding of {machine.n_states} states has Boolean formulas"
        result.seconds = time.monotonic() - started
        return result
    n_bits = coding.n_bits if machine.n_states > 1 else 0
    table, targets = bit_tables(machine, coding.codes, coding.n_bits)
    if n_bits == 0:
        table, targets = table[:, coding.n_bits :], targets[:, coding.n_bits :]
    exprs = [fit_boolean(table, targets[:, j]) for j in range(targets.shape[1])]
    if any(e is None for e in exprs):
        result.reason = "a Boolean formula was lost after coding"
        return result
    bit_names = tuple(f"bit{j}" for j in range(n_bits))
    initial = tuple(
        int(v) for v in (coding.codes[machine.initial] >> np.arange(n_bits - 1, -1, -1)) & 1
    )
    notes = (
        f"Route: bit finder: {machine.n_states} {source},",
        f"coded as {n_bits} bit(s); every bit and output is a Boolean formula of the bits before",
        "the step and the current input.",
    )
    result.spec = ProgramSpec(
        input_names=input_names(inputs.shape[2]),
        state_names=bit_names,
        initial_state=initial,
        next_state=tuple(e for e in exprs[:n_bits] if e is not None),
        outputs=tuple(e for e in exprs[n_bits:] if e is not None),
        is_moore=False,
        notes=notes,
    )
    result.backends = ["boolean"] * len(exprs)
    result.details = {"n_states": machine.n_states, "n_bits": n_bits}
    result.seconds = time.monotonic() - started
    return result
