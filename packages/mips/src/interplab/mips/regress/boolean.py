"""Boolean regression from truth tables ("BR", ``mips.md`` §9).

For 0/1 targets over 0/1 variables: drop the variables the target does not need, then write the
shortest of several forms, measured in printed characters: a DNF (``SOPform``, unseen input
combinations as don't-cares), a CNF (``POSform``), the algebraic normal form (XOR of ANDs,
``ANFform``), and, when the target depends only on how many variables are 1, an XOR chain, a
threshold ``int(a + b + c > k)`` or an equality ``int(a + b + c == k)``.

Shapes: ``R`` rows, ``k`` variables.
"""

from __future__ import annotations

from itertools import product
from typing import Any

import numpy as np
from sympy import Symbol  # type: ignore[import-untyped]
from sympy.logic.boolalg import (  # type: ignore[import-untyped]
    And,
    ANFform,
    BooleanFalse,
    BooleanTrue,
    Not,
    Or,
    POSform,
    SOPform,
    Xor,
)

from .expr import Const, Expr, Op, Var, render

__all__ = ["fit_boolean"]


def _is_binary(values: np.ndarray) -> bool:
    return bool(np.isin(values, (0, 1)).all())


def _consistent(table: np.ndarray, target: np.ndarray, columns: list[int]) -> bool:
    if not columns:
        return bool(np.all(target == target[0]))
    keys = table[:, columns] @ (1 << np.arange(len(columns)))
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], target[order]
    same = keys[1:] == keys[:-1]
    return bool(np.all(values[1:][same] == values[:-1][same]))


def _from_sympy(node: Any, columns: list[int]) -> Expr:
    if isinstance(node, BooleanTrue):
        return Const(1)
    if isinstance(node, BooleanFalse):
        return Const(0)
    if isinstance(node, Symbol):
        return Var(columns[int(node.name[1:])])
    if isinstance(node, Not):
        return Op("not", (_from_sympy(node.args[0], columns),))
    names = {And: "and", Or: "or", Xor: "xor"}
    for kind, name in names.items():
        if isinstance(node, kind):
            parts = sorted((_from_sympy(a, columns) for a in node.args), key=repr)
            expr = parts[0]
            for part in parts[1:]:
                expr = Op(name, (expr, part))
            return expr
    raise ValueError(f"unexpected Boolean node {node!r}")


def _sum(columns: list[int]) -> Expr:
    expr: Expr = Var(columns[0])
    for column in columns[1:]:
        expr = Op("add", (expr, Var(column)))
    return expr


def _symmetric_forms(counts: np.ndarray, values: np.ndarray, columns: list[int]) -> list[Expr]:
    """Forms for a target that depends only on the number of ones ``counts``."""
    by_count: dict[int, int] = {}
    for count, value in zip(counts.tolist(), values.tolist(), strict=True):
        if by_count.setdefault(count, value) != value:
            return []
    forms: list[Expr] = []
    if all(v == c % 2 for c, v in by_count.items()):
        xor: Expr = Var(columns[0])
        for column in columns[1:]:
            xor = Op("xor", (xor, Var(column)))
        forms.append(xor)
    total = _sum(columns)
    ones = sorted(c for c, v in by_count.items() if v == 1)
    zeros = sorted(c for c, v in by_count.items() if v == 0)
    if ones and zeros and max(zeros) < min(ones):
        forms.append(Op("lt", (Const(max(zeros)), total)))
    if ones and zeros and max(ones) < min(zeros):
        forms.append(Op("lt", (total, Const(min(zeros)))))
    if len(ones) == 1:
        forms.append(Op("eq", (total, Const(ones[0]))))
    return forms


def fit_boolean(table: np.ndarray, target: np.ndarray, *, max_variables: int = 10) -> Expr | None:
    """Shortest Boolean formula reproducing ``target`` on every row.

    Args:
        table: int64 ``(R, k)``; only its 0/1 columns are used.
        target: int64 ``(R,)`` of 0/1 values.
        max_variables: give up when more 0/1 columns than this are needed.

    Returns:
        The expression (``&``, ``|``, ``^``, ``(1 - a)``, sums compared with constants), or
        ``None`` if the target is not 0/1 or needs a non-binary column.
    """
    if not _is_binary(target):
        return None
    if np.all(target == target[0]):
        return Const(int(target[0]))
    columns = [j for j in range(table.shape[1]) if _is_binary(table[:, j])]
    if not _consistent(table, target, columns):
        return None
    for j in list(reversed(columns)):
        reduced = [c for c in columns if c != j]
        if _consistent(table, target, reduced):
            columns = reduced
    if len(columns) > max_variables:
        return None
    bits = table[:, columns]
    keys = bits @ (1 << np.arange(len(columns))[::-1])
    seen_keys, first = np.unique(keys, return_index=True)
    seen_values = target[first]
    symbols = [Symbol(f"v{i}") for i in range(len(columns))]
    everything = list(product((0, 1), repeat=len(columns)))
    ones = [list(everything[k]) for k, v in zip(seen_keys, seen_values, strict=True) if v == 1]
    seen = set(seen_keys.tolist())
    dontcares = [list(row) for k, row in enumerate(everything) if k not in seen]
    candidates: list[Expr] = []
    sop = SOPform(symbols, ones, dontcares)
    candidates.append(_from_sympy(sop, columns))
    candidates.append(_from_sympy(POSform(symbols, ones, dontcares), columns))
    filled = [int(bool(sop.subs(dict(zip(symbols, row, strict=True))))) for row in everything]
    candidates.append(_from_sympy(ANFform(symbols, filled), columns))
    candidates += _symmetric_forms(bits.sum(axis=1), target, columns)
    names = [f"v{j}" for j in range(table.shape[1])]
    return min(candidates, key=lambda e: (len(render(e, names)), repr(e)))
