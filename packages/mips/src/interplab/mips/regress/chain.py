"""The regressor chain: linear, then Boolean, then brute-force enumeration (``mips.md`` §15).

Every backend returns an exact expression or nothing, so the chain stops at the first that
answers; the answer is re-checked on every row before it is returned. PySR is an optional
backend that runs only where Julia and the ``pysr`` package are both present
(:mod:`interplab.mips.regress.pysr`); it is never required.

Shapes: ``R`` rows, ``k`` variables.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .boolean import fit_boolean
from .enumerate import Grammar, enumerate_expression
from .expr import EvaluationError, Expr, evaluate
from .linear import fit_linear

__all__ = ["BACKENDS", "Fit", "fit_expression"]

BACKENDS = ("linear", "boolean", "enumerate")
"""Backend names, in the order the chain tries them."""


@dataclass(frozen=True)
class Fit:
    """An exact expression and the backend that found it."""

    expr: Expr
    backend: str
    """``linear`` (the paper's LR), ``boolean`` (BR) or ``enumerate`` (SR)."""
    seconds: float


def fit_expression(
    table: np.ndarray,
    target: np.ndarray,
    *,
    backends: Sequence[str] = BACKENDS,
    grammar: Grammar | None = None,
    time_budget_s: float = 10.0,
) -> Fit | None:
    """First exact expression for ``target`` from the chain of backends.

    Args:
        table: int64 ``(R, k)`` variables (e.g. previous state and input).
        target: int64 ``(R,)`` values to explain (e.g. one coordinate of the next state).
        backends: names from :data:`BACKENDS`, in the order to try.
        grammar: leaves and operators of the enumerator.
        time_budget_s: budget of the enumerator.

    Returns:
        The fit, or ``None`` if no backend found an exact expression.

    Raises:
        ValueError: an unknown backend name.
    """
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise ValueError(f"unknown regression backend {unknown[0]!r}; use some of {BACKENDS}.")
    for backend in backends:
        started = time.monotonic()
        if backend == "linear":
            expr = fit_linear(table, target)
        elif backend == "boolean":
            expr = fit_boolean(table, target)
        else:
            expr = enumerate_expression(table, target, grammar=grammar, time_budget_s=time_budget_s)
        if expr is None:
            continue
        try:
            is_exact = np.array_equal(evaluate(expr, table), target)
        except EvaluationError:
            is_exact = False
        if is_exact:
            return Fit(expr=expr, backend=backend, seconds=time.monotonic() - started)
    return None
