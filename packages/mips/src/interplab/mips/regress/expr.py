"""Integer expressions: the common output of every regressor, evaluated and printed as Python.

An expression is a tree of :class:`Var` (a column of the regression table), :class:`Const` and
:class:`Op` nodes. Values are Python ints; ``//`` and ``%`` floor as Python does, comparisons
give 0 or 1, Boolean operators work on 0/1 ints. :func:`evaluate` runs a tree on a whole table
with NumPy (int64, same semantics); :func:`render` prints it with Python precedence.

Shapes: ``R`` rows (one per distinct state/input combination), ``k`` variables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "BINARY_OPS",
    "UNARY_OPS",
    "Const",
    "EvaluationError",
    "Expr",
    "Op",
    "Var",
    "apply_op",
    "evaluate",
    "render",
    "size",
    "variables_used",
]

UNARY_OPS = ("neg", "abs", "not")
"""Unary operators: ``-a``, ``abs(a)`` and ``(1 - a)`` (Boolean not on 0/1 values)."""
BINARY_OPS = ("add", "sub", "mul", "floordiv", "mod", "min", "max", "eq", "lt", "and", "or", "xor")
"""Binary operators: ``+ - * // %``, ``min``, ``max``, ``int(a == b)``, ``int(a < b)``,
and ``& | ^`` on 0/1 values."""

_SYMBOL = {
    "add": "+", "sub": "-", "mul": "*", "floordiv": "//", "mod": "%",
    "and": "&", "or": "|", "xor": "^",
}  # fmt: skip
_PRECEDENCE = {"or": 4, "xor": 5, "and": 6, "add": 8, "sub": 8, "mul": 9, "floordiv": 9, "mod": 9}
_ASSOCIATIVE = {"add", "mul", "and", "or", "xor"}
_ATOM = 12
_UNARY_PRECEDENCE = 10


@dataclass(frozen=True)
class Var:
    """Column ``index`` of the regression table."""

    index: int


@dataclass(frozen=True)
class Const:
    """An integer constant."""

    value: int


@dataclass(frozen=True)
class Op:
    """An operator from :data:`UNARY_OPS` or :data:`BINARY_OPS` applied to ``args``."""

    name: str
    args: tuple[Expr, ...]


Expr = Var | Const | Op
"""An integer expression tree."""


def size(expr: Expr) -> int:
    """Number of nodes."""
    if isinstance(expr, Op):
        return 1 + sum(size(a) for a in expr.args)
    return 1


def variables_used(expr: Expr) -> set[int]:
    """Indices of the variables the expression reads."""
    if isinstance(expr, Var):
        return {expr.index}
    if isinstance(expr, Op):
        return set().union(*(variables_used(a) for a in expr.args))
    return set()


class EvaluationError(ArithmeticError):
    """Division or modulo by zero somewhere in the table."""


def evaluate(expr: Expr, table: np.ndarray) -> np.ndarray:
    """Value of ``expr`` on every row.

    Args:
        expr: the expression.
        table: int64 ``(R, k)``; ``Var(i)`` reads column ``i``.

    Returns:
        int64 ``(R,)``.

    Raises:
        EvaluationError: a ``//`` or ``%`` by zero occurs on some row.
    """
    if isinstance(expr, Var):
        return table[:, expr.index].astype(np.int64)
    if isinstance(expr, Const):
        return np.full(len(table), expr.value, dtype=np.int64)
    values = [evaluate(a, table) for a in expr.args]
    return apply_op(expr.name, *values)


def apply_op(name: str, *values: np.ndarray) -> np.ndarray:
    """Apply operator ``name`` element-wise with Python integer semantics (int64 arrays).

    Raises:
        EvaluationError: a ``//`` or ``%`` by zero.
    """
    if name == "neg":
        return np.asarray(-values[0], dtype=np.int64)
    if name == "abs":
        return np.asarray(np.abs(values[0]), dtype=np.int64)
    if name == "not":
        return np.asarray(1 - values[0], dtype=np.int64)
    a, b = values
    if name in ("floordiv", "mod"):
        if (b == 0).any():
            raise EvaluationError(f"{name} by zero")
        out = np.floor_divide(a, b) if name == "floordiv" else np.mod(a, b)
        return np.asarray(out, dtype=np.int64)
    table = {
        "add": np.add, "sub": np.subtract, "mul": np.multiply, "min": np.minimum,
        "max": np.maximum, "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor,
    }  # fmt: skip
    if name in table:
        return np.asarray(table[name](a, b), dtype=np.int64)
    if name == "eq":
        return np.asarray(a == b, dtype=np.int64)
    if name == "lt":
        return np.asarray(a < b, dtype=np.int64)
    raise ValueError(f"unknown operator {name!r}; use one of {UNARY_OPS + BINARY_OPS}.")


def _precedence(expr: Expr) -> int:
    if isinstance(expr, Const) and expr.value < 0:
        return _UNARY_PRECEDENCE
    if isinstance(expr, Op):
        if expr.name == "neg":
            return _UNARY_PRECEDENCE
        return _PRECEDENCE.get(expr.name, _ATOM)
    return _ATOM


def render(expr: Expr, names: tuple[str, ...] | list[str]) -> str:
    """Python source of ``expr`` with ``Var(i)`` printed as ``names[i]``.

    Args:
        expr: the expression.
        names: a Python identifier per variable.

    Returns:
        An expression string using only builtins (``abs``, ``min``, ``max``, ``int``).
    """
    if isinstance(expr, Var):
        return names[expr.index]
    if isinstance(expr, Const):
        return str(expr.value)
    args = [render(a, names) for a in expr.args]
    if expr.name == "neg":
        inner = args[0]
        if _precedence(expr.args[0]) < _UNARY_PRECEDENCE:
            inner = f"({inner})"
        return f"-{inner}"
    if expr.name == "not":
        return f"(1 - {args[0]})"
    if expr.name in ("abs", "min", "max"):
        return f"{expr.name}({', '.join(args)})"
    if expr.name == "eq":
        return f"int({args[0]} == {args[1]})"
    if expr.name == "lt":
        if isinstance(expr.args[0], Const) and not isinstance(expr.args[1], Const):
            return f"int({args[1]} > {args[0]})"
        return f"int({args[0]} < {args[1]})"
    own = _PRECEDENCE[expr.name]
    left, right = expr.args
    left_text, right_text = args
    if _precedence(left) < own:
        left_text = f"({left_text})"
    right_prec = _precedence(right)
    same_chain = isinstance(right, Op) and right.name == expr.name and expr.name in _ASSOCIATIVE
    if right_prec < own or (right_prec == own and not same_chain):
        right_text = f"({right_text})"
    return f"{left_text} {_SYMBOL[expr.name]} {right_text}"
