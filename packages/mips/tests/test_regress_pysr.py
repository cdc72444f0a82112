"""PySR backend: sympy → Expr conversion (pure), availability, and one real fit where possible."""

from __future__ import annotations

import importlib.util
import shutil
from typing import Any

import numpy as np
import pytest
import sympy  # type: ignore[import-untyped]

from interplab.mips.regress import (
    BACKENDS,
    Const,
    PySRUnavailableError,
    default_backends,
    evaluate,
    fit_expression,
    fit_pysr,
    pysr_status,
    render,
    sympy_to_expr,
)

a, b, c = sympy.symbols("a b c")
NAMES = ["a", "b", "c"]


def grid() -> np.ndarray:
    mesh = np.meshgrid(np.arange(-4, 5), np.arange(-3, 4), np.arange(1, 4), indexing="ij")
    return np.stack([m.reshape(-1) for m in mesh], axis=1).astype(np.int64)


@pytest.mark.parametrize(
    "expression",
    [
        3 * a - 2 * b + 1,
        -a - b + 7,
        a * b * (c - 2),
        a**2 - 3 * b,
        sympy.Mod(a + b, 3),
        sympy.Abs(a - b),
        sympy.Max(a, b, c) - sympy.Min(a, 0),
        sympy.floor((a + 2 * b) / 3),
    ],
)
def test_conversion_computes_what_numpy_computes_from_sympy(expression: Any) -> None:
    expr = sympy_to_expr(expression, NAMES)
    assert expr is not None
    table = grid()
    by_numpy = sympy.lambdify((a, b, c), expression, modules="numpy")(*table.T.astype(float))
    assert evaluate(expr, table).tolist() == by_numpy.astype(np.int64).tolist()


def test_near_integer_constants_are_rounded() -> None:
    expr = sympy_to_expr(2.9999999 * a + sympy.Float(1.0000001) - 0.99999999 * b, NAMES)
    assert expr is not None and render(expr, NAMES) == "3 * a - b + 1"
    assert sympy_to_expr(sympy.Float(-4.0000001), NAMES) == Const(-4)


@pytest.mark.parametrize(
    "expression",
    [sympy.sin(a), sympy.exp(a) + b, 0.5 * a, a / b, a**-1, sympy.sqrt(a), sympy.Symbol("z") + 1],
)
def test_unsupported_operators_constants_and_symbols_give_none(expression: Any) -> None:
    assert sympy_to_expr(expression, NAMES) is None


def test_status_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert pysr_status() == (False, "PySR backend not available: julia not found")
    monkeypatch.setattr(shutil, "which", lambda name: f"/opt/julia/bin/{name}")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert pysr_status() == (False, "PySR backend not available: the pysr package is not installed")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    assert pysr_status() == (True, "PySR backend available")


def test_default_chain_adds_pysr_only_where_it_can_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert default_backends() == BACKENDS
    monkeypatch.setattr(shutil, "which", lambda name: f"/opt/julia/bin/{name}")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    assert default_backends() == (*BACKENDS, "pysr")


def test_asking_for_pysr_where_it_cannot_run_says_why_and_how_to_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    table = grid()
    with pytest.raises(PySRUnavailableError, match=r"julia not found.*interplab-mips\[pysr\]"):
        fit_expression(table, table[:, 0], backends=("linear", "pysr"))
    with pytest.raises(PySRUnavailableError, match=r"Julia 1\.10"):
        fit_pysr(table, table[:, 0])
    fit = fit_expression(table, table[:, 0] + 1)  # the default chain still works without it
    assert fit is not None and fit.backend == "linear"


@pytest.mark.skipif(not pysr_status()[0], reason=pysr_status()[1])
def test_pysr_finds_an_exact_product() -> None:
    table = grid()
    target = 2 * table[:, 0] * table[:, 1] - 3 * table[:, 2] + 5
    expr = fit_pysr(table, target, var_names=NAMES, time_budget_s=60, seed=0)
    assert expr is not None
    assert np.array_equal(evaluate(expr, table), target)
