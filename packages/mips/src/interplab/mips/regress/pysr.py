"""Optional PySR backend: only where a Julia binary and the ``pysr`` package are both present.

PySR cannot run offline without a provisioned Julia (``mips.md`` §15), and interplab does not
depend on it: install the extra (``pip install 'interplab-mips[pysr]'``) and provide Julia.
:func:`pysr_status` says whether it can be used and why not; :func:`fit_pysr` runs a small,
deterministic search over ``+ - *`` and constants and converts the answer with
:func:`sympy_to_expr`, a pure function (tested without Julia) that rounds near-integer
constants and declines operators our integer expressions do not have.

Shapes: ``R`` rows, ``k`` variables.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
from collections.abc import Sequence
from typing import Any

import numpy as np
import sympy  # type: ignore[import-untyped]

from interplab.core.errors import InterplabError

from .expr import Const, EvaluationError, Expr, Op, Var, evaluate

__all__ = ["PySRUnavailableError", "fit_pysr", "pysr_status", "sympy_to_expr"]

INSTALL_HINT = (
    "install the extra with `pip install 'interplab-mips[pysr]'` (or `uv sync --extra pysr`) "
    "and provide Julia 1.10+ on PATH (or a provisioned JULIA_DEPOT_PATH and "
    "PYTHON_JULIACALL_EXE: PySR downloads Julia packages on first use)"
)


class PySRUnavailableError(InterplabError, ImportError):
    """The PySR backend was requested where it cannot run; the message says why and the fix."""


def pysr_status() -> tuple[bool, str]:
    """Whether the PySR backend can run here, and the reason if not.

    Returns:
        ``(True, "PySR backend available")`` or ``(False, reason)``, e.g.
        ``"PySR backend not available: julia not found"``.
    """
    if shutil.which("julia") is None:
        return False, "PySR backend not available: julia not found"
    if importlib.util.find_spec("pysr") is None:
        return False, "PySR backend not available: the pysr package is not installed"
    return True, "PySR backend available"


def require_pysr() -> None:
    """Raise :class:`PySRUnavailableError` (reason and fix) unless :func:`pysr_status` is true."""
    is_available, reason = pysr_status()
    if not is_available:
        raise PySRUnavailableError(f"{reason}; to use the 'pysr' backend, {INSTALL_HINT}.")


def _integer(value: Any, tol: float) -> int | None:
    """``value`` as an int if it is within ``tol`` of one."""
    number = float(value)
    nearest = round(number)
    return int(nearest) if abs(number - nearest) <= tol * max(1.0, abs(number)) else None


def _present(parts: Sequence[Expr | None]) -> list[Expr] | None:
    """``parts`` if none is ``None``."""
    out = [p for p in parts if p is not None]
    return out if len(out) == len(parts) else None


def _fold(name: str, args: Sequence[Expr]) -> Expr:
    out = args[0]
    for arg in args[1:]:
        out = Op(name, (out, arg))
    return out


def _negated(term: Any) -> Any:
    """``-term`` if ``term`` is a product with a negative numeric coefficient, else None."""
    coefficient, rest = term.as_coeff_Mul()
    if coefficient.is_number and coefficient < 0:
        return -coefficient * rest
    return None


def sympy_to_expr(sympy_expr: Any, var_names: Sequence[str], *, tol: float = 1e-4) -> Expr | None:
    """Convert a sympy expression to an integer :data:`~interplab.mips.regress.expr.Expr`.

    Handled: symbols in ``var_names``; numbers within ``tol`` (relative, for large ones) of an
    integer (``2.9999999`` becomes 3); ``+``, ``*``, non-negative integer powers; ``Mod``,
    ``Abs``, ``Min``, ``Max``; ``floor(a / q)`` for an integer ``q``. Anything else (other
    functions, non-integer constants, unknown symbols) gives ``None``.

    Args:
        sympy_expr: e.g. PySR's ``model.sympy()``.
        var_names: the name of each table column; ``Var(i)`` reads column ``i``.
        tol: how far from an integer a constant may be.

    Returns:
        The expression, or ``None`` if it cannot be written with our operators.
    """
    names = list(var_names)

    def convert(node: Any) -> Expr | None:
        if node.is_Symbol:
            return Var(names.index(node.name)) if node.name in names else None
        if node.is_Number:
            value = _integer(node, tol)
            return None if value is None else Const(value)
        if node.is_Add:
            # Positive terms first, constants last: "3 * a - b + 1".
            terms = sorted(node.args, key=lambda t: (bool(t.is_Number), _negated(t) is not None))
            out: Expr | None = None
            for term in terms:
                positive = _negated(term)
                part = convert(positive if positive is not None else term)
                if part is None:
                    return None
                if out is None:
                    out = Op("neg", (part,)) if positive is not None else part
                else:
                    out = Op("sub" if positive is not None else "add", (out, part))
            return out
        if node.is_Mul:
            coefficient, rest = node.as_coeff_Mul()
            if coefficient != 1:
                value, inner = _integer(coefficient, tol), convert(rest)
                if value is None or inner is None:
                    return None
                if value in (0, 1):
                    return inner if value else Const(0)
                return Op("neg", (inner,)) if value == -1 else Op("mul", (Const(value), inner))
            factors = _present([convert(a) for a in node.args])
            return None if factors is None else _fold("mul", factors)
        if node.is_Pow:
            base, exponent = node.args
            power = _integer(exponent, tol) if exponent.is_number else None
            if power is None or power < 0 or power > 16:
                return None
            if power == 0:
                return Const(1)
            inner = convert(base)
            return None if inner is None else _fold("mul", [inner] * power)
        table = {sympy.Mod: "mod", sympy.Min: "min", sympy.Max: "max", sympy.Abs: "abs"}
        if node.func in table:
            parts = _present([convert(a) for a in node.args])
            if parts is None:
                return None
            if node.func is sympy.Abs:
                return Op("abs", (parts[0],))
            return _fold(table[node.func], parts)
        if node.func is sympy.floor:
            numerator, denominator = sympy.fraction(sympy.together(node.args[0]))
            q = convert(denominator)
            if not isinstance(q, Const) or q.value == 0:
                return None
            p = convert(numerator)
            return None if p is None else Op("floordiv", (p, q))
        return None

    return convert(sympy.sympify(sympy_expr))


def fit_pysr(
    table: np.ndarray,
    target: np.ndarray,
    *,
    var_names: Sequence[str] | None = None,
    time_budget_s: float = 30.0,
    seed: int = 0,
    niterations: int = 40,
) -> Expr | None:
    """An exact integer expression for ``target`` found by PySR, or ``None``.

    The search is deterministic (serial, seeded) with small populations over ``+ - *`` and
    constants. Every equation of PySR's hall of fame, simplest first, is converted with
    :func:`sympy_to_expr`; the first that reproduces every row is returned.

    Args:
        table: int64 ``(R, k)`` variables.
        target: int64 ``(R,)`` values to explain.
        var_names: a Python identifier per column (``x0, x1, …`` by default).
        time_budget_s: PySR's timeout.
        seed: PySR's ``random_state``.
        niterations: PySR's iterations at most.

    Returns:
        The expression, exact on every row, or ``None``.

    Raises:
        PySRUnavailableError: Julia or the ``pysr`` package is missing (the message says how
            to install them).
    """
    require_pysr()
    names = list(var_names) if var_names is not None else [f"x{i}" for i in range(table.shape[1])]
    pysr: Any = importlib.import_module("pysr")
    model = pysr.PySRRegressor(
        binary_operators=["+", "-", "*"],
        unary_operators=[],
        niterations=niterations,
        populations=4,
        population_size=30,
        maxsize=15,
        parallelism="serial",
        deterministic=True,
        random_state=seed,
        timeout_in_seconds=max(1, int(time_budget_s)),
        precision=64,
        progress=False,
        verbosity=0,
        temp_equation_file=True,
        delete_tempfiles=True,
    )
    model.fit(table.astype(np.float64), target.astype(np.float64), variable_names=names)
    for index in range(len(model.equations_)):
        expr = sympy_to_expr(model.sympy(index), names)
        if expr is None:
            continue
        try:
            if np.array_equal(evaluate(expr, table), target):
                return expr
        except EvaluationError:
            continue
    return None
