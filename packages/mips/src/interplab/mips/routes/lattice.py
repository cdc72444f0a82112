"""Lattice route: integer lattice coordinates of the hidden states as the program's state.

The linear and GCD finders (``mips.md`` §8) run on the states and, for a linear recurrence, on
the input-driven part of the states; candidates are tried by description length.
``z_t = F(z_{t-1}, x_t)`` and ``y_t = G(z_t)`` are regressed over all transitions, and the
initial state is the integer vector that makes the first step agree with the data.

Shapes: ``N`` sequences, ``L`` positions, ``n`` hidden units, ``r`` lattice rank.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from ..codegen import ProgramSpec
from ..regress.expr import EvaluationError, Expr, evaluate
from ..rnn import GeneralRNN, hidden_states
from ..sequences import IntArray
from ..states.lattice import Lattice, find_lattice_gcd, find_lattice_linear
from ._common import RouteResult, fit_all, grammar_for, input_names

__all__ = ["lattice_route"]


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
    grammar = grammar_for(inputs)
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
    next_fits = fit_all(rows, first_target, grammar, deadline, per_target_s=per_target)
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
    out_fits = fit_all(out_rows, out_first, grammar, deadline, per_target_s=per_target)
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
