"""Regressors: expression printing, integer linear, Boolean, enumerator, and the chain."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from interplab.mips.regress import (
    Const,
    Grammar,
    Op,
    Var,
    enumerate_expression,
    evaluate,
    fit_boolean,
    fit_expression,
    fit_linear,
    pysr_status,
    render,
)
from interplab.mips.regress.expr import EvaluationError, size

NAMES = ("a", "b", "c")


def grid(*ranges: range) -> np.ndarray:
    mesh = np.meshgrid(*[np.array(r) for r in ranges], indexing="ij")
    return np.stack([m.reshape(-1) for m in mesh], axis=1).astype(np.int64)


# --- expressions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        (Op("sub", (Var(0), Op("sub", (Var(1), Var(2))))), "a - (b - c)"),
        (Op("add", (Op("add", (Var(0), Var(1))), Var(2))), "a + b + c"),
        (Op("mul", (Op("add", (Var(0), Var(1))), Var(2))), "(a + b) * c"),
        (Op("neg", (Op("add", (Var(0), Var(1))),)), "-(a + b)"),
        (Op("mod", (Op("add", (Var(0), Var(1))), Const(3))), "(a + b) % 3"),
        (Op("lt", (Const(3), Var(0))), "int(a > 3)"),
        (Op("xor", (Op("and", (Var(0), Var(1))), Var(2))), "a & b ^ c"),
        (Op("not", (Var(0),)), "(1 - a)"),
        (Op("max", (Var(0), Op("abs", (Var(1),)))), "max(a, abs(b))"),
    ],
)
def test_render_uses_python_precedence_and_means_what_it_prints(expr: Op, text: str) -> None:
    assert render(expr, NAMES) == text
    table = grid(range(-3, 4), range(-3, 4), range(0, 3))
    by_python = [eval(text, {}, dict(zip(NAMES, map(int, row), strict=True))) for row in table]
    assert evaluate(expr, table).tolist() == [int(v) for v in by_python]


def test_evaluate_floors_like_python_and_refuses_division_by_zero() -> None:
    table = np.array([[-7, 2], [7, -2]])
    assert evaluate(Op("floordiv", (Var(0), Var(1))), table).tolist() == [-4, -4]
    assert evaluate(Op("mod", (Var(0), Var(1))), table).tolist() == [1, -1]
    with pytest.raises(EvaluationError, match="mod by zero"):
        evaluate(Op("mod", (Var(0), Const(0))), table)


# --- linear ---------------------------------------------------------------------------------


def test_fit_linear_recovers_integer_coefficients() -> None:
    table = grid(range(-5, 6), range(-5, 6))
    expr = fit_linear(table, 3 * table[:, 0] - 2 * table[:, 1] + 1)
    assert expr is not None
    assert render(expr, NAMES) == "3 * a - 2 * b + 1"


def test_fit_linear_picks_one_of_two_identical_columns() -> None:
    x = np.arange(10)
    table = np.stack([x, x, x % 3], axis=1)
    expr = fit_linear(table, x + 4)
    assert expr is not None and np.array_equal(evaluate(expr, table), x + 4)


def test_fit_linear_rationals_only_when_asked() -> None:
    table = grid(range(0, 6), range(0, 6))
    target = (table[:, 0] + table[:, 1]) // 2
    assert fit_linear(table, target) is None
    expr = fit_linear(table, target, max_denominator=2)
    assert expr is not None and render(expr, NAMES) == "(a + b) // 2"


def test_fit_linear_refuses_nonlinear_targets() -> None:
    table = grid(range(0, 5), range(0, 5))
    assert fit_linear(table, table[:, 0] * table[:, 1]) is None


# --- Boolean --------------------------------------------------------------------------------


def test_fit_boolean_finds_xor() -> None:
    table = grid(range(2), range(2), range(2))
    expr = fit_boolean(table, table[:, 0] ^ table[:, 2])
    assert expr is not None
    assert render(expr, NAMES) == "a ^ c"


def test_fit_boolean_writes_majority_as_a_threshold() -> None:
    table = grid(range(2), range(2), range(2))
    expr = fit_boolean(table, (table.sum(axis=1) > 1).astype(np.int64))
    assert expr is not None
    assert render(expr, NAMES) == "int(a + b + c > 1)"


def test_fit_boolean_uses_unseen_rows_as_dont_cares() -> None:
    table = np.array([[0, 0], [0, 1], [1, 0]])  # (1, 1) never seen
    expr = fit_boolean(table, np.array([0, 1, 1]))
    assert expr is not None and len(render(expr, NAMES)) <= len("a ^ b")


def test_fit_boolean_declines_non_bit_targets_and_non_bit_dependencies() -> None:
    assert fit_boolean(grid(range(2), range(2)), np.array([0, 1, 2, 1])) is None
    table = np.array([[0, 5], [0, 6]])
    assert fit_boolean(table, np.array([0, 1])) is None


# --- enumerator -----------------------------------------------------------------------------


def test_enumerator_finds_a_base_5_adder() -> None:
    table = grid(range(2), range(5), range(5))  # carry, a, b
    total = table.sum(axis=1)
    grammar = Grammar(constants=(0, 1, 2, 3, 5))
    digit = enumerate_expression(table, total % 5, grammar=grammar, time_budget_s=30)
    carry = enumerate_expression(table, total // 5, grammar=grammar, time_budget_s=30)
    assert digit is not None and render(digit, NAMES) == "(a + b + c) % 5"
    assert carry is not None and np.array_equal(evaluate(carry, table), total // 5)


def test_enumerator_returns_a_smallest_expression() -> None:
    table = grid(range(10), range(10))
    expr = enumerate_expression(table, np.maximum(table[:, 0], table[:, 1]), time_budget_s=10)
    assert expr is not None and size(expr) == 3 and render(expr, NAMES) == "max(a, b)"


def test_enumerator_gives_up_when_nothing_small_fits() -> None:
    table = grid(range(8))
    target = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    assert enumerate_expression(table, target, grammar=Grammar(max_size=3), time_budget_s=5) is None


def test_enumerator_rejects_contradictory_rows() -> None:
    table = np.array([[1], [1]])
    assert enumerate_expression(table, np.array([0, 1])) is None


# --- chain ----------------------------------------------------------------------------------


def test_chain_tries_linear_then_boolean_then_enumeration() -> None:
    table = grid(range(2), range(3))
    linear = fit_expression(table, 2 * table[:, 1] - table[:, 0])
    boolean = fit_expression(grid(range(2), range(2)), np.array([0, 1, 1, 0]))
    searched = fit_expression(table, table[:, 1] % 2 + table[:, 0] * table[:, 1])
    assert linear is not None and linear.backend == "linear"
    assert boolean is not None and boolean.backend == "boolean"
    assert searched is not None and searched.backend == "enumerate"


def test_chain_rejects_unknown_backends() -> None:
    with pytest.raises(ValueError, match="unknown regression backend 'gplearn'"):
        fit_expression(grid(range(2)), np.array([0, 1]), backends=("linear", "gplearn"))


def test_pysr_is_optional_and_says_why_it_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert pysr_status() == (False, "PySR backend not available: julia not found")
