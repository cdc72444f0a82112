"""Integer linear regression with rounding ("LR", ``mips.md`` §10).

Fit ``y = Σ w_i v_i + c`` by least squares, round the coefficients to integers (or to fractions
``p / q`` with a small common denominator, printed as ``(Σ p_i v_i + p_0) // q``) and accept only
if the result reproduces every row exactly. Collinear columns (a state equal to an input, say)
make least squares split weights between them, so sparse subsets of up to three columns are tried
as well, smallest first.

Shapes: ``R`` rows, ``k`` variables.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from .expr import Const, Expr, Op, Var

__all__ = ["fit_linear", "linear_expression"]


def linear_expression(
    weights: list[int], intercept: int, columns: list[int], *, denominator: int = 1
) -> Expr:
    """``(Σ weights[j] · Var(columns[j]) + intercept) // denominator`` as an expression.

    Terms with weight 0 are dropped; weights ±1 print without a factor; negative terms are
    subtracted.

    Args:
        weights: integer coefficient per column.
        intercept: integer constant term.
        columns: variable index per coefficient.
        denominator: positive common denominator (1 means none).

    Returns:
        The expression.
    """
    terms: list[tuple[int, Expr]] = []
    for weight, column in zip(weights, columns, strict=True):
        if weight == 0:
            continue
        magnitude = abs(weight)
        node: Expr = Var(column) if magnitude == 1 else Op("mul", (Const(magnitude), Var(column)))
        terms.append((1 if weight > 0 else -1, node))
    positive = [i for i, (sign, _) in enumerate(terms) if sign > 0]
    if positive and positive[0] > 0:  # start with a positive term: "a - b", not "-b + a"
        terms.insert(0, terms.pop(positive[0]))
    if intercept:
        terms.append((1 if intercept > 0 else -1, Const(abs(intercept))))
    if not terms:
        expr: Expr = Const(0)
    else:
        sign, expr = terms[0]
        if sign < 0:
            expr = Op("neg", (expr,)) if not isinstance(expr, Const) else Const(-expr.value)
        for sign, node in terms[1:]:
            expr = Op("add" if sign > 0 else "sub", (expr, node))
    if denominator != 1:
        expr = Op("floordiv", (expr, Const(denominator)))
    return expr


def _fit_columns(
    table: np.ndarray, target: np.ndarray, columns: list[int], max_denominator: int
) -> Expr | None:
    design = np.concatenate(
        [table[:, columns].astype(np.float64), np.ones((len(table), 1))], axis=1
    )
    coef = np.linalg.lstsq(design, target.astype(np.float64), rcond=None)[0]
    for q in range(1, max_denominator + 1):
        scaled = np.round(coef * q).astype(np.int64)
        if q > 1 and np.gcd.reduce(np.append(scaled, q)) != 1:
            continue
        numerator = table[:, columns] @ scaled[:-1] + scaled[-1]
        if np.array_equal(np.floor_divide(numerator, q), target):
            return linear_expression(scaled[:-1].tolist(), int(scaled[-1]), columns, denominator=q)
    return None


def fit_linear(
    table: np.ndarray,
    target: np.ndarray,
    *,
    max_denominator: int = 1,
    max_subset: int = 3,
) -> Expr | None:
    """Exact integer linear fit of ``target`` from the columns of ``table``.

    Args:
        table: int64 ``(R, k)`` variables.
        target: int64 ``(R,)``.
        max_denominator: also try coefficients ``p / q`` for ``q`` up to this, printed with a
            floor division (1: integers only, the paper's "integer regression").
        max_subset: when the full fit is not exact, try every subset of up to this many columns.

    Returns:
        The expression with the fewest columns that reproduces ``target`` exactly (the full fit
        first), or ``None``.
    """
    k = table.shape[1]
    if np.all(target == target[0]):
        return Const(int(target[0]))
    found = _fit_columns(table, target, list(range(k)), max_denominator)
    if found is not None:
        return found
    for width in range(1, min(max_subset, k - 1) + 1):
        for subset in combinations(range(k), width):
            found = _fit_columns(table, target, list(subset), max_denominator)
            if found is not None:
                return found
    return None
