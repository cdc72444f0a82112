"""The regressor chain: linear, then Boolean, then brute-force enumeration (``mips.md`` §15).

Every backend returns an exact expression or nothing, so the chain stops at the first that
answers; the answer is re-checked on every row before it is returned. PySR is an optional
backend (:mod:`interplab.mips.regress.pysr`): it joins the default chain, last, only where
Julia and the ``pysr`` package are both present (:func:`default_backends`); asking for it
elsewhere raises an error that says what to install.

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
from .pysr import fit_pysr, pysr_status, require_pysr

__all__ = ["BACKENDS", "OPTIONAL_BACKENDS", "Fit", "default_backends", "fit_expression"]

BACKENDS = ("linear", "boolean", "enumerate")
"""The built-in backends (always available), in the order the chain tries them."""
OPTIONAL_BACKENDS = ("pysr",)
"""Backends that need extra software (:func:`~interplab.mips.regress.pysr.pysr_status`)."""


def default_backends() -> tuple[str, ...]:
    """:data:`BACKENDS`, then ``pysr`` where it can run here."""
    return (*BACKENDS, "pysr") if pysr_status()[0] else BACKENDS


@dataclass(frozen=True)
class Fit:
    """An exact expression and the backend that found it."""

    expr: Expr
    backend: str
    """``linear`` (the paper's LR), ``boolean`` (BR), ``enumerate`` or ``pysr`` (SR)."""
    seconds: float


def fit_expression(
    table: np.ndarray,
    target: np.ndarray,
    *,
    backends: Sequence[str] | None = None,
    grammar: Grammar | None = None,
    time_budget_s: float = 10.0,
) -> Fit | None:
    """First exact expression for ``target`` from the chain of backends.

    Args:
        table: int64 ``(R, k)`` variables (e.g. previous state and input).
        target: int64 ``(R,)`` values to explain (e.g. one coordinate of the next state).
        backends: names from :data:`BACKENDS` and :data:`OPTIONAL_BACKENDS`, in the order to
            try; ``None`` means :func:`default_backends`.
        grammar: leaves and operators of the enumerator.
        time_budget_s: budget of the enumerator (and of PySR).

    Returns:
        The fit, or ``None`` if no backend found an exact expression.

    Raises:
        ValueError: an unknown backend name.
        PySRUnavailableError: ``pysr`` was asked for where it cannot run (the message says
            why and what to install).
    """
    order = default_backends() if backends is None else tuple(backends)
    known = BACKENDS + OPTIONAL_BACKENDS
    unknown = [b for b in order if b not in known]
    if unknown:
        raise ValueError(f"unknown regression backend {unknown[0]!r}; use some of {known}.")
    if "pysr" in order:
        require_pysr()
    for backend in order:
        started = time.monotonic()
        if backend == "linear":
            expr = fit_linear(table, target)
        elif backend == "boolean":
            expr = fit_boolean(table, target)
        elif backend == "enumerate":
            expr = enumerate_expression(table, target, grammar=grammar, time_budget_s=time_budget_s)
        else:
            expr = fit_pysr(table, target, time_budget_s=time_budget_s)
        if expr is None:
            continue
        try:
            is_exact = np.array_equal(evaluate(expr, table), target)
        except EvaluationError:
            is_exact = False
        if is_exact:
            return Fit(expr=expr, backend=backend, seconds=time.monotonic() - started)
    return None
