"""Brute-force expression search ("SR", ``mips.md`` §10 and §15), in NumPy.

Bottom-up enumeration by size (number of nodes) over variables, small constants, unary
``-a``/``abs`` and binary ``+ - * // % min max == <``, keeping only the first expression of each
distinct value vector (observational equivalence), so the first expression equal to the target
is a smallest one. Values are int64 with Python's floor semantics; an expression that divides
by zero or leaves ±2³¹ on any row is dropped.

To keep the value vectors short the search runs on a sample of rows; a hit is checked on every
row, and rows it gets wrong join the sample before searching again (counterexample-guided).

Shapes: ``R`` rows, ``k`` variables.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .expr import Const, EvaluationError, Expr, Op, Var, evaluate

__all__ = ["Grammar", "enumerate_expression"]

_COMMUTATIVE = frozenset({"add", "mul", "min", "max", "eq"})
_LIMIT = 2**31


@dataclass(frozen=True)
class Grammar:
    """What :func:`enumerate_expression` may build."""

    constants: tuple[int, ...] = (0, 1, 2, 3)
    """Integer leaves."""
    unary: tuple[str, ...] = ("neg", "abs")
    """Unary operators (names from :data:`~interplab.mips.regress.expr.UNARY_OPS`)."""
    binary: tuple[str, ...] = ("add", "sub", "mul", "floordiv", "mod", "min", "max", "eq", "lt")
    """Binary operators (names from :data:`~interplab.mips.regress.expr.BINARY_OPS`)."""
    max_size: int = 7
    """Largest expression, in nodes."""
    max_per_size: int = 300_000
    """Distinct value vectors kept per size; larger sizes stop growing beyond it."""


def _binary_values(name: str, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``a op b`` for all pairs (``a`` (c, 1, r), ``b`` (1, m, r)) and a validity mask."""
    with np.errstate(all="ignore"):
        if name in ("floordiv", "mod"):
            safe = np.where(b == 0, 1, b)
            out = np.floor_divide(a, safe) if name == "floordiv" else np.mod(a, safe)
            valid = np.broadcast_to(~(b == 0).any(axis=-1), out.shape[:2])
        else:
            ops = {
                "add": np.add, "sub": np.subtract, "mul": np.multiply, "min": np.minimum,
                "max": np.maximum, "and": np.bitwise_and, "or": np.bitwise_or,
                "xor": np.bitwise_xor,
            }  # fmt: skip
            if name in ops:
                out = ops[name](a, b)
            elif name == "eq":
                out = (a == b).astype(np.int64)
            elif name == "lt":
                out = (a < b).astype(np.int64)
            else:
                raise ValueError(f"unknown binary operator {name!r}")
            valid = np.ones(out.shape[:2], dtype=bool)
    valid = valid & (np.abs(out) < _LIMIT).all(axis=-1)
    return out, valid


@dataclass
class _Level:
    values: list[np.ndarray] = field(default_factory=list)
    provenance: list[np.ndarray] = field(default_factory=list)
    """Rows of (op code, left size, left index, right size, right index)."""
    count: int = 0

    def stacked(self) -> np.ndarray:
        return np.concatenate(self.values) if self.values else np.zeros((0, 0), np.int64)


class _Search:
    def __init__(
        self, table: np.ndarray, target: np.ndarray, grammar: Grammar, deadline: float
    ) -> None:
        self.table, self.target, self.grammar, self.deadline = table, target, grammar, deadline
        rng = np.random.default_rng(0)
        self.weights = rng.integers(1, 2**62, size=len(target), dtype=np.int64).astype(np.uint64)
        self.target_hash = int(self._hash(target[None])[0])
        self.seen: set[int] = set()
        self.levels: dict[int, _Level] = {}
        self.leaves: list[Expr] = []
        self.ops = list(grammar.unary) + list(grammar.binary)

    def _hash(self, values: np.ndarray) -> np.ndarray:
        hashed = (values.astype(np.int64).view(np.uint64) * self.weights).sum(axis=-1)
        return np.asarray(hashed, dtype=np.uint64)

    def _add(self, size: int, values: np.ndarray, provenance: np.ndarray) -> tuple[int, int] | None:
        """Keep new value vectors; return (size, index) of one equal to the target, if any."""
        hashes = self._hash(values)
        _, first = np.unique(hashes, return_index=True)
        first.sort()
        fresh = np.array(
            [
                i
                for i, h in zip(first.tolist(), hashes[first].tolist(), strict=True)
                if h not in self.seen
            ],
            dtype=np.int64,
        )
        level = self.levels.setdefault(size, _Level())
        if len(fresh) == 0:
            return None
        for i in fresh[hashes[fresh] == np.uint64(self.target_hash)].tolist():
            if np.array_equal(values[i], self.target):
                self._store(level, values[[i]], provenance[[i]], hashes[[i]])
                return size, level.count - 1
        fresh = fresh[: max(self.grammar.max_per_size - level.count, 0)]
        if len(fresh):
            self._store(level, values[fresh], provenance[fresh], hashes[fresh])
        return None

    def _store(
        self, level: _Level, values: np.ndarray, provenance: np.ndarray, hashes: np.ndarray
    ) -> None:
        self.seen.update(hashes.tolist())
        level.values.append(values)
        level.provenance.append(provenance)
        level.count += len(values)

    def run(self) -> Expr | None:
        rows = len(self.target)
        leaves: list[tuple[Expr, np.ndarray]] = [
            (Var(j), self.table[:, j]) for j in range(self.table.shape[1])
        ]
        leaves += [(Const(c), np.full(rows, c, dtype=np.int64)) for c in self.grammar.constants]
        self.leaves = [e for e, _ in leaves]
        values = np.stack([v for _, v in leaves]).astype(np.int64)
        provenance = np.array([[-1, 0, i, 0, 0] for i in range(len(leaves))], dtype=np.int64)
        hit = self._add(1, values, provenance)
        if hit:
            return self._build(*hit)
        for size in range(2, self.grammar.max_size + 1):
            hit = self._grow(size)
            if hit:
                return self._build(*hit)
            if time.monotonic() > self.deadline:
                return None
        return None

    def _grow(self, size: int) -> tuple[int, int] | None:
        below = self.levels.get(size - 1)
        if below and below.count:
            child = below.stacked()
            for code, name in enumerate(self.grammar.unary):
                with np.errstate(all="ignore"):
                    out = -child if name == "neg" else np.abs(child) if name == "abs" else 1 - child
                prov = np.zeros((len(child), 5), dtype=np.int64)
                prov[:, 0], prov[:, 1], prov[:, 2] = code, size - 1, np.arange(len(child))
                hit = self._add(size, out, prov)
                if hit:
                    return hit
        n_unary = len(self.grammar.unary)
        for left_size in range(1, size - 1):
            right_size = size - 1 - left_size
            left_level, right_level = self.levels.get(left_size), self.levels.get(right_size)
            if not (left_level and right_level and left_level.count and right_level.count):
                continue
            left, right = left_level.stacked(), right_level.stacked()
            for code, name in enumerate(self.grammar.binary, start=n_unary):
                if name in _COMMUTATIVE and left_size > right_size:
                    continue
                hit = self._pairs(size, code, name, left_size, left, right_size, right)
                if hit:
                    return hit
                if time.monotonic() > self.deadline:
                    return None
        return None

    def _pairs(self, size: int, code: int, name: str, left_size: int, left: np.ndarray,
               right_size: int, right: np.ndarray) -> tuple[int, int] | None:  # fmt: skip
        rows = left.shape[1]
        chunk = max(1, 2_000_000 // max(1, len(right) * rows))
        triangular = name in _COMMUTATIVE and left_size == right_size
        for start in range(0, len(left), chunk):
            block = left[start : start + chunk]
            out, valid = _binary_values(name, block[:, None, :], right[None, :, :])
            a_index = np.arange(start, start + len(block))[:, None]
            b_index = np.arange(len(right))[None, :]
            if triangular:
                valid = valid & (a_index <= b_index)
            a_grid, b_grid = np.broadcast_arrays(a_index, b_index)
            pick = np.nonzero(valid.reshape(-1))[0]
            if len(pick) == 0:
                continue
            flat = out.reshape(-1, rows)[pick]
            prov = np.stack(
                [
                    np.full(len(pick), code),
                    np.full(len(pick), left_size),
                    a_grid.reshape(-1)[pick],
                    np.full(len(pick), right_size),
                    b_grid.reshape(-1)[pick],
                ],
                axis=1,
            )
            hit = self._add(size, flat, prov)
            if hit:
                return hit
            if time.monotonic() > self.deadline:
                return None
        return None

    def _build(self, size: int, index: int) -> Expr:
        level = self.levels[size]
        provenance = np.concatenate(level.provenance)[index]
        code, left_size, left_index, right_size, right_index = (int(v) for v in provenance)
        if code == -1:
            return self.leaves[left_index]
        name = self.ops[code]
        if code < len(self.grammar.unary):
            return Op(name, (self._build(left_size, left_index),))
        return Op(name, (self._build(left_size, left_index), self._build(right_size, right_index)))


def enumerate_expression(
    table: np.ndarray,
    target: np.ndarray,
    *,
    grammar: Grammar | None = None,
    time_budget_s: float = 10.0,
    max_rows: int = 48,
    max_rounds: int = 8,
) -> Expr | None:
    """Smallest expression over the columns of ``table`` equal to ``target`` on every row.

    Args:
        table: int64 ``(R, k)`` variables.
        target: int64 ``(R,)``.
        grammar: leaves, operators and size limit; ``None`` means :class:`Grammar` defaults.
        time_budget_s: wall-clock budget for the whole search.
        max_rows: rows in the first sample (distinct rows, chosen with a fixed seed).
        max_rounds: counterexample rounds at most.

    Returns:
        The expression, or ``None`` if none up to ``grammar.max_size`` was found in time.
    """
    grammar = grammar or Grammar()
    deadline = time.monotonic() + time_budget_s
    rows = np.concatenate([table, target[:, None]], axis=1).astype(np.int64)
    rows = np.unique(rows, axis=0)
    x_all, y_all = rows[:, :-1], rows[:, -1]
    check = np.unique(x_all, axis=0)
    if len(check) != len(x_all):
        return None  # the same inputs map to two different targets
    rng = np.random.default_rng(0)
    sample = rng.permutation(len(rows))[:max_rows]
    for _ in range(max_rounds):
        found = _Search(x_all[sample], y_all[sample], grammar, deadline).run()
        if found is None:
            return None
        try:
            predicted = evaluate(found, x_all)
        except EvaluationError:
            predicted = None
        if predicted is not None and np.array_equal(predicted, y_all):
            return found
        wrong = np.arange(len(rows)) if predicted is None else np.nonzero(predicted != y_all)[0]
        extra = np.setdiff1d(wrong, sample)[:16]
        if len(extra) == 0:
            return None
        sample = np.concatenate([sample, extra])
    return None
