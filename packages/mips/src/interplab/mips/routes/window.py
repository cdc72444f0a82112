"""Window route: keep the last few inputs when the hidden state is a function of them.

The output is then regressed from the stored inputs and the current one (delays, differences,
patterns).

Shapes: ``N`` sequences, ``L`` positions, ``d_in`` / ``d_out`` integers per position.
"""

from __future__ import annotations

import time

import numpy as np

from ..codegen import ProgramSpec
from ..regress.expr import Expr, Var
from ..rnn import GeneralRNN, hidden_states
from ..sequences import IntArray
from ..states.window import find_window, window_keys
from ._common import RouteResult, fit_all, grammar_for, input_names

__all__ = ["window_route"]


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
    # k = 0 (a constant state) reads like k = 1: nothing stored, the output from the current input.
    width = max(k, 1)
    keys = window_keys(inputs, width).reshape(-1, width * d_in)
    # Program variables: stored inputs, most recent first, then the current input.
    order = [j * d_in + c for j in range(width - 2, -1, -1) for c in range(d_in)]
    table = keys[:, order + list(range((width - 1) * d_in, width * d_in))]
    target = outputs.reshape(-1, d_out)
    _, index = np.unique(np.concatenate([table, target], axis=1), axis=0, return_index=True)
    table, target = table[index], target[index]
    if len(np.unique(table, axis=0)) != len(table):
        result.reason = f"outputs are not a function of the last {width} inputs"
        result.seconds = time.monotonic() - started
        return result
    n_state = (width - 1) * d_in
    grammar = grammar_for(inputs)
    fits = fit_all(table, target, grammar, deadline, per_target_s=max(1.0, time_budget_s / d_out))
    if any(f is None for f in fits):
        result.reason = f"no exact output formula over the last {width} inputs"
        result.seconds = time.monotonic() - started
        return result
    stored = [
        f"last_{name}" + (str(lag) if lag > 1 else "")
        for lag in range(1, width)
        for name in names_in
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
        )
        if k
        else (
            "Route: finite window: the RNN's hidden state never changes; the output is an",
            "exact formula of the current input.",
        ),
    )
    result.backends = [f.backend for f in fits if f is not None]
    result.details = {"window": k}
    result.seconds = time.monotonic() - started
    return result
