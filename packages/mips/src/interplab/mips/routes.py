"""From a trained RNN to a program spec, three ways (``mips.md`` §8–§10, plus a general FSM).

Each route reads discrete states off the network's hidden states and regresses how they change
and what they print:

- :func:`lattice_route`: integer lattice coordinates ``z`` (linear and GCD finders, lower
  description length first); ``z_t = F(z_{t-1}, x_t)`` and ``y_t = G(z_t)`` by the regressor
  chain over all transitions; the initial state is the integer vector that makes the first step
  agree with the data.
- :func:`window_route`: the hidden state is a function of the last ``k`` inputs; the program
  keeps them and regresses the output from them (delays, differences, patterns).
- :func:`bits_route`: k-means groups (2, 4, 8) made into a machine, states coded as bits, each
  bit and output a Boolean formula (the paper's bit finder; 0/1 inputs and outputs only).
- :func:`fsm_route`: the minimal machine from quantised states; its states numbered a few ways
  (breadth-first, last output, position on a chain, all orders when few) and the first numbering
  whose transition and output both regress to formulas wins; otherwise the unexplained functions
  are printed as transition tables.

Shapes: ``N`` sequences, ``L`` positions, ``d_in`` / ``d_out`` integers per position, ``n``
hidden units.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch

from .codegen import ProgramSpec, Table
from .regress.boolean import fit_boolean
from .regress.chain import Fit, fit_expression
from .regress.enumerate import Grammar
from .regress.expr import EvaluationError, Expr, Var, evaluate, render
from .rnn import GeneralRNN, hidden_states
from .sequences import IntArray
from .states.bits import bit_tables, cluster_states, find_bit_coding
from .states.fsm import (
    StateMachine,
    extract_state_machine,
    extract_state_machine_by_behaviour,
    machine_from_clusters,
    state_numberings,
)
from .states.lattice import Lattice, find_lattice_gcd, find_lattice_linear
from .states.window import find_window, window_keys

__all__ = [
    "RouteResult",
    "bits_route",
    "fsm_route",
    "input_names",
    "lattice_route",
    "read_machine",
    "window_route",
]


@dataclass
class RouteResult:
    """A program spec from one route, or why there is none."""

    route: str
    spec: ProgramSpec | None = None
    backends: list[str] = field(default_factory=list)
    """Backend (``linear``, ``boolean``, ``enumerate``, ``table``) of each update and output."""
    reason: str = ""
    seconds: float = 0.0
    details: dict[str, object] = field(default_factory=dict)

    @property
    def stage(self) -> str:
        """``route:REGRESSOR``, e.g. ``lattice:LR``; the hardest regressor used names it."""
        rank = {
            "linear": (0, "LR"),
            "boolean": (1, "BR"),
            "enumerate": (2, "SR"),
            "table": (3, "table"),
        }
        used = [rank[b] for b in self.backends if b in rank] or [(0, "LR")]
        return f"{self.route}:{max(used)[1]}"


def input_names(d_in: int) -> tuple[str, ...]:
    """``("x",)``, ``("a", "b")``, or ``("x0", "x1", …)``."""
    if d_in == 1:
        return ("x",)
    if d_in == 2:
        return ("a", "b")
    return tuple(f"x{i}" for i in range(d_in))


def _step_fn(model: GeneralRNN) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    @torch.no_grad()
    def step(hidden: np.ndarray, x: np.ndarray) -> np.ndarray:
        h = torch.as_tensor(hidden, dtype=torch.float32)
        return model.step(h, torch.as_tensor(x, dtype=torch.float32)).double().numpy()

    return step


def _read_fn(model: GeneralRNN) -> Callable[[np.ndarray], np.ndarray]:
    @torch.no_grad()
    def read(hidden: np.ndarray) -> np.ndarray:
        out = model.readout(torch.as_tensor(hidden, dtype=torch.float32))
        return torch.round(out).to(torch.int64).numpy()

    return read


def _rollout_fn(model: GeneralRNN) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    @torch.no_grad()
    def rollout(hidden: np.ndarray, probes: np.ndarray) -> np.ndarray:
        n_probes, horizon, d_in = probes.shape
        chunk = max(1, 200_000 // max(n_probes, 1))
        seqs = torch.as_tensor(probes, dtype=torch.float32)
        out = []
        for start in range(0, len(hidden), chunk):
            h = torch.as_tensor(hidden[start : start + chunk], dtype=torch.float32)
            b = len(h)
            state = h[:, None, :].expand(b, n_probes, h.shape[1]).reshape(b * n_probes, -1)
            x = seqs[None].expand(b, n_probes, horizon, d_in).reshape(b * n_probes, horizon, d_in)
            ys = []
            for t in range(horizon):
                state = model.step(state, x[:, t])
                ys.append(torch.round(model.readout(state)))
            out.append(torch.stack(ys, dim=1).reshape(b, n_probes, horizon, -1).to(torch.int64))
        return torch.cat(out).numpy()

    return rollout


def _fit_all(
    table: np.ndarray,
    targets: np.ndarray,
    grammar: Grammar,
    deadline: float,
    *,
    per_target_s: float,
) -> list[Fit | None]:
    fits: list[Fit | None] = []
    for j in range(targets.shape[1]):
        budget = max(0.05, min(per_target_s, deadline - time.monotonic()))
        fits.append(fit_expression(table, targets[:, j], grammar=grammar, time_budget_s=budget))
    return fits


def _grammar(inputs: IntArray, extra: tuple[int, ...] = ()) -> Grammar:
    top = int(inputs.max())
    constants = sorted({0, 1, 2, 3, top, top + 1, *extra} - {-1})
    return Grammar(constants=tuple(c for c in constants if abs(c) <= 1000)[:9])


# --- lattice --------------------------------------------------------------------------------


def _initial_state(
    next_exprs: list[Expr], z0: np.ndarray, x0: np.ndarray, guess: np.ndarray, box: np.ndarray
) -> tuple[int, ...] | None:
    """Integer ``z`` with ``F(z, x_0) = z_0`` for every sequence."""
    rows = np.unique(np.concatenate([x0, z0], axis=1), axis=0)
    x_part, z_part = rows[:, : x0.shape[1]], rows[:, x0.shape[1] :]
    r = len(guess)
    candidates = [np.zeros(r), np.round(guess)]
    candidates += [
        np.array(c) for c in itertools.product(*zip(np.floor(guess), np.ceil(guess), strict=True))
    ]
    lows, highs = box
    sizes = highs - lows + 3
    if np.prod(sizes.astype(np.float64)) <= 5000:
        ranges = [range(int(lo) - 1, int(hi) + 2) for lo, hi in zip(lows, highs, strict=True)]
        candidates += [np.array(c) for c in itertools.product(*ranges)]
    seen: set[tuple[int, ...]] = set()
    for candidate in candidates:
        key = tuple(int(v) for v in candidate)
        if key in seen:
            continue
        seen.add(key)
        table = np.concatenate([np.tile(np.array(key), (len(rows), 1)), x_part], axis=1)
        try:
            got = np.stack([evaluate(e, table) for e in next_exprs], axis=1)
        except EvaluationError:
            continue
        if np.array_equal(got, z_part):
            return key
    return None


def _lattice_candidates(
    model: GeneralRNN, hidden: np.ndarray, inputs: IntArray
) -> list[tuple[Lattice, np.ndarray, str]]:
    """Lattices of the hidden states, lowest description length first.

    For a linear recurrence also of ``h_t - h_t(0)``, the states minus those of an all-zero
    input: by linearity that part is exactly the input-driven sum ``Σ W^k U x_{t-k}``, free of
    the small bias drift a trained network tolerates because rounding hides it.
    """
    variants = [(hidden, "states")]
    if model.architecture.hidden_depth == 1:
        drift = hidden_states(model, np.zeros_like(inputs[:1]))
        variants.append((hidden - drift, "input-driven states"))
    found: list[tuple[Lattice, np.ndarray, str]] = []
    for states, label in variants:
        flat = states.reshape(-1, states.shape[-1])
        lattices: list[Lattice | None] = []
        before = np.concatenate([np.zeros_like(states[:, :1]), states[:, :-1]], axis=1)
        finders: list[Callable[[], Lattice | None]] = [partial(find_lattice_gcd, flat)]
        if model.architecture.hidden_depth == 1:
            linear = partial(
                find_lattice_linear,
                before.reshape(-1, flat.shape[-1]),
                inputs.reshape(-1, inputs.shape[-1]).astype(np.float64),
                flat,
                hidden=flat,
            )
            finders.insert(0, linear)
        for finder in finders:
            try:
                with np.errstate(all="ignore"):
                    lattices.append(finder())
            except (ValueError, ArithmeticError, np.linalg.LinAlgError):
                continue
        found += [
            (lat, states, label)
            for lat in lattices
            if lat is not None and np.isfinite(lat.basis).all() and np.isfinite(lat.origin).all()
        ]
    return sorted(found, key=lambda c: c[0].description_length(c[1].reshape(-1, c[1].shape[-1])))


def lattice_route(
    model: GeneralRNN,
    inputs: IntArray,
    outputs: IntArray,
    *,
    time_budget_s: float = 30.0,
    max_fraction_error: float = 0.25,
) -> RouteResult:
    """Program from integer lattice coordinates of the hidden states.

    Args:
        model: the (simplified) network.
        inputs: int64 ``(N, L, d_in)`` data to read states on.
        outputs: int64 ``(N, L, d_out)`` matching outputs.
        time_budget_s: budget for the regressions.
        max_fraction_error: reject a lattice if some state lies farther than this (in lattice
            coordinates) from the nearest lattice point.

    Returns:
        The route's result (a Moore program: outputs read the updated state).
    """
    started = time.monotonic()
    deadline = started + time_budget_s
    result = RouteResult("lattice")
    hidden = hidden_states(model, inputs)
    lattices = _lattice_candidates(model, hidden, inputs)
    if not lattices:
        result.reason = "no lattice found (all states equal or no consistent basis)"
        return result
    reasons = []
    for lattice, states, label in lattices:
        error = float(lattice.fractional_error(states.reshape(-1, states.shape[-1])).max())
        if error > max_fraction_error:
            reasons.append(f"{lattice.method} on {label}: off the lattice (error {error:.2f})")
            continue
        spec, backends, reason = _lattice_program(lattice, states, inputs, outputs, deadline)
        if spec is not None:
            result.spec, result.backends = spec, backends
            result.details = {"lattice": lattice.method, "rank": lattice.rank, "of": label}
            break
        reasons.append(f"{lattice.method} on {label}: {reason}")
    result.reason = "; ".join(reasons) if result.spec is None else ""
    result.seconds = time.monotonic() - started
    return result


def _lattice_program(
    lattice: Lattice, hidden: np.ndarray, inputs: IntArray, outputs: IntArray, deadline: float
) -> tuple[ProgramSpec | None, list[str], str]:
    z = np.round(lattice.coordinates(hidden)).astype(np.int64)  # (N, L, r)
    _, length, r = z.shape
    d_in = inputs.shape[2]
    names_in = input_names(d_in)
    state_names = tuple(f"s{i}" for i in range(r))
    grammar = _grammar(inputs)
    if length < 2:
        return None, [], "sequences of length 1 show no transitions"
    table = np.concatenate([z[:, :-1], inputs[:, 1:]], axis=2).reshape(-1, r + d_in)
    target = z[:, 1:].reshape(-1, r)
    rows, index = np.unique(table, axis=0, return_inverse=True)
    first_target = np.zeros((len(rows), r), dtype=np.int64)
    first_target[index.reshape(-1)] = target
    if not np.array_equal(first_target[index.reshape(-1)], target):
        return None, [], "lattice states are not a function of (previous state, input)"
    per_target = max(1.0, (deadline - time.monotonic()) / (r + outputs.shape[2]))
    next_fits = _fit_all(rows, first_target, grammar, deadline, per_target_s=per_target)
    if any(f is None for f in next_fits):
        missing = [state_names[i] for i, f in enumerate(next_fits) if f is None]
        return None, [], f"no exact update for {', '.join(missing)}"
    out_table = z.reshape(-1, r)
    out_target = outputs.reshape(-1, outputs.shape[2])
    out_rows, out_index = np.unique(out_table, axis=0, return_inverse=True)
    out_first = np.zeros((len(out_rows), out_target.shape[1]), dtype=np.int64)
    out_first[out_index.reshape(-1)] = out_target
    if not np.array_equal(out_first[out_index.reshape(-1)], out_target):
        return None, [], "outputs are not a function of the lattice state"
    out_fits = _fit_all(out_rows, out_first, grammar, deadline, per_target_s=per_target)
    if any(f is None for f in out_fits):
        return None, [], "no exact output expression"
    next_exprs = [f.expr for f in next_fits if f is not None]
    out_exprs = [f.expr for f in out_fits if f is not None]
    guess = lattice.coordinates(np.zeros((1, hidden.shape[-1])))[0]
    box = np.stack([z.reshape(-1, r).min(axis=0), z.reshape(-1, r).max(axis=0)])
    initial = _initial_state(next_exprs, z[:, 0], inputs[:, 0], guess, box)
    if initial is None:
        return None, [], "no integer initial state reproduces the first step"
    notes = (
        f"Route: integer lattice ({lattice.method} finder, rank {r}) of the RNN's hidden states;",
        "each state variable is one lattice coordinate, updated by an exact regressed formula.",
    )
    spec = ProgramSpec(
        input_names=names_in,
        state_names=state_names,
        initial_state=initial,
        next_state=tuple(next_exprs),
        outputs=tuple(out_exprs),
        is_moore=True,
        notes=notes,
    )
    backends = [f.backend for f in (*next_fits, *out_fits) if f is not None]
    return spec, backends, ""


# --- finite window ----------------------------------------------------------------------------


def window_route(
    model: GeneralRNN,
    inputs: IntArray,
    outputs: IntArray,
    *,
    time_budget_s: float = 30.0,
    max_window: int = 6,
) -> RouteResult:
    """Program that keeps the last few inputs, when the hidden state is a function of them.

    Args:
        model: the (simplified) network.
        inputs: int64 ``(N, L, d_in)`` (more sequences make the window test sharper).
        outputs: int64 ``(N, L, d_out)``.
        time_budget_s: budget for the output regressions.
        max_window: longest window tried.

    Returns:
        The route's result (a Mealy program over the stored inputs and the current one).
    """
    started = time.monotonic()
    deadline = started + time_budget_s
    result = RouteResult("window")
    hidden = hidden_states(model, inputs)
    k = find_window(hidden, inputs, max_window=max_window)
    if k is None:
        result.reason = "the hidden state is not a function of a short window of inputs"
        result.seconds = time.monotonic() - started
        return result
    d_in, d_out = inputs.shape[2], outputs.shape[2]
    names_in = input_names(d_in)
    keys = window_keys(inputs, k).reshape(-1, k * d_in)
    # Program variables: stored inputs, most recent first, then the current input.
    order = [j * d_in + c for j in range(k - 2, -1, -1) for c in range(d_in)]
    order += list(range((k - 1) * d_in, k * d_in)) if k else []
    table = keys[:, order] if k else np.zeros((len(keys), 0), np.int64)
    target = outputs.reshape(-1, d_out)
    _, index = np.unique(np.concatenate([table, target], axis=1), axis=0, return_index=True)
    table, target = table[index], target[index]
    if len(np.unique(table, axis=0)) != len(table):
        result.reason = f"outputs are not a function of the last {k} inputs"
        result.seconds = time.monotonic() - started
        return result
    n_state = (k - 1) * d_in if k else 0
    if k == 0:  # nothing remembered: the output depends on the current input alone
        table = inputs.reshape(-1, d_in)[index]
    grammar = _grammar(inputs)
    fits = _fit_all(table, target, grammar, deadline, per_target_s=max(1.0, time_budget_s / d_out))
    if any(f is None for f in fits):
        result.reason = f"no exact output formula over the last {max(k, 1)} inputs"
        result.seconds = time.monotonic() - started
        return result
    stored = [
        f"last_{name}" + (str(lag) if lag > 1 else "") for lag in range(1, k) for name in names_in
    ]
    updates: list[Expr] = []
    for j in range(n_state):
        lag, component = divmod(j, d_in)
        updates.append(Var(n_state + component) if lag == 0 else Var(j - d_in))
    result.spec = ProgramSpec(
        input_names=names_in,
        state_names=tuple(stored),
        initial_state=(0,) * n_state,
        next_state=tuple(updates),
        outputs=tuple(f.expr for f in fits if f is not None),
        is_moore=False,
        notes=(
            f"Route: finite window: every hidden state of the RNN is a function of the last {k}",
            "input(s) (zeros before the start); the output is an exact formula of them.",
        ),
    )
    result.backends = [f.backend for f in fits if f is not None]
    result.details = {"window": k}
    result.seconds = time.monotonic() - started
    return result


# --- finite-state machine -----------------------------------------------------------------------


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
    model: GeneralRNN, inputs: IntArray, outputs: IntArray, *, max_states: int = 512
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

    Returns:
        The machine, or ``None``.
    """
    hidden = hidden_states(model, inputs)
    step, read = _step_fn(model), _read_fn(model)
    length = inputs.shape[1]
    prefixes = sum(
        len(np.unique(inputs[:, : t + 1].reshape(len(inputs), -1), axis=0)) for t in range(length)
    )
    extractors: list[Callable[[], StateMachine | None]] = [
        partial(
            extract_state_machine_by_behaviour,
            hidden, inputs, outputs, rollout=_rollout_fn(model), step=step, read=read,
        ),
        partial(extract_state_machine, hidden, inputs, outputs, step=step, read=read),
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
        machine = read_machine(model, inputs, outputs)
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


_FSM_NOTE = "Route: minimal finite-state machine read off the RNN's quantised hidden states."


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
    grammar = _grammar(inputs, (q,))
    if q == 1:
        table = machine.symbols.astype(np.int64)
        targets = machine.outputs[0]
        fits = _fit_all(table, targets, grammar, deadline, per_target_s=5.0)
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
        fits = _fit_all(table, targets, small, deadline, per_target_s=min(per_target, remaining))
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


# --- bits ------------------------------------------------------------------------------------


def _boolean_cost(table: np.ndarray, targets: np.ndarray) -> float:
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
            labels.reshape(hidden.shape[:2]), centers, inputs, outputs, step=_step_fn(model)
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
    coding = find_bit_coding(machine, _boolean_cost)
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
