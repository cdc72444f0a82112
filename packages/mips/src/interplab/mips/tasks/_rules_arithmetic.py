"""Rules of the arithmetic tasks.

Base-k addition, running and windowed sums, sums modulo k, binary long division, dithering and
the evens counter. Each task has a plain reference rule on one sequence and a vectorised twin
on int64 arrays: ``(N, L)`` for one stream, ``(N, L, 2)`` for the two digit streams of
Base_k_Addition.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._types import IntArray, Rule, ScalarVectorRule, VectorRule, as_int64, window_sum

__all__ = [
    "add_mod",
    "add_mod_vec",
    "base_addition",
    "base_addition_vec",
    "dithering",
    "dithering_vec",
    "divide",
    "divide_vec",
    "evens_counter",
    "evens_counter_vec",
    "sum_all",
    "sum_all_vec",
    "sum_last",
    "sum_last_vec",
]


def _named(rule: Rule, name: str, doc: str) -> Rule:
    rule.__name__ = rule.__qualname__ = name
    rule.__doc__ = doc
    return rule


def base_addition(k: int) -> Rule:
    """Base_{k}_Addition: ripple-carry sum of two base-k numbers, least significant digit first.

    ``s_t = a_t + b_t + c_t``, ``y_t = s_t mod k``, ``c_(t+1) = floor(s_t / k)``, ``c_0 = 0``;
    the final carry is dropped.
    """

    def rule(seq: Sequence[tuple[int, int]]) -> list[int]:
        out, carry = [], 0
        for a, b in seq:
            total = a + b + carry
            out.append(total % k)
            carry = total // k
        return out

    name = "binary_addition" if k == 2 else f"base_{k}_addition"
    return _named(rule, name, f"Base-{k} addition, LSB first, carry in 0, final carry dropped.")


def sum_all(seq: Sequence[int]) -> list[int]:
    """Sum_All: ``y_t = x_0 + ... + x_t``."""
    out, total = [], 0
    for x in seq:
        total += x
        out.append(total)
    return out


def sum_last(k: int) -> Rule:
    """Sum_Last{k}: sum of ``x_i`` for ``max(0, t-k+1) <= i <= t``."""

    def rule(seq: Sequence[int]) -> list[int]:
        return [sum(seq[max(0, t - k + 1) : t + 1]) for t in range(len(seq))]

    return _named(rule, f"sum_last{k}", f"Sum of the last {k} values (window truncated at 0).")


def evens_counter(seq: Sequence[int]) -> list[int]:
    """Evens_Counter: ``y_t`` = number of ``i <= t`` with ``x_i`` even (0 is even)."""
    out, count = [], 0
    for x in seq:
        count += x % 2 == 0
        out.append(count)
    return out


def add_mod(k: int) -> Rule:
    """Add_Mod_{k}: ``y_t = (x_0 + ... + x_t) mod k``."""

    def rule(seq: Sequence[int]) -> list[int]:
        out, total = [], 0
        for x in seq:
            total = (total + x) % k
            out.append(total)
        return out

    return _named(rule, f"add_mod_{k}", f"Running sum modulo {k}.")


def divide(k: int) -> Rule:
    """Div_{k}: binary long division by k, most significant bit first, emitting quotient bits.

    ``r_(-1) = 0``, ``v_t = 2 r_(t-1) + x_t``, ``y_t = floor(v_t / k)``, ``r_t = v_t mod k``.
    """

    def rule(seq: Sequence[int]) -> list[int]:
        out, remainder = [], 0
        for x in seq:
            value = 2 * remainder + x
            out.append(value // k)
            remainder = value % k
        return out

    return _named(rule, f"div_{k}", f"Quotient bits of binary long division by {k}, MSB first.")


def dithering(seq: Sequence[int]) -> list[int]:
    """Dithering: ``y_t = floor(S_t / 15) - floor(S_(t-1) / 15)``, ``S`` the running sum."""
    out, total = [], 0
    for x in seq:
        before = total
        total += x
        out.append(total // 15 - before // 15)
    return out


# --- vectorised twins ----------------------------------------------------------------------


def base_addition_vec(k: int) -> VectorRule:
    """``(N, L, 2) -> (N, L, 1)`` Base_{k}_Addition."""

    def rule(x: IntArray) -> IntArray:
        out = np.empty(x.shape[:2], np.int64)
        carry = np.zeros(x.shape[0], np.int64)
        for t in range(x.shape[1]):
            total = x[:, t, 0] + x[:, t, 1] + carry
            out[:, t] = total % k
            carry = total // k
        return out[..., None]

    rule.__name__ = rule.__qualname__ = f"base_{k}_addition_vec"
    return rule


def sum_all_vec(x: IntArray) -> IntArray:
    """``(N, L) -> (N, L)``: running sum."""
    return np.cumsum(x, axis=1)


def sum_last_vec(k: int) -> ScalarVectorRule:
    """``(N, L) -> (N, L)`` Sum_Last{k}."""

    def rule(x: IntArray) -> IntArray:
        return window_sum(x, k)

    rule.__name__ = rule.__qualname__ = f"sum_last{k}_vec"
    return rule


def evens_counter_vec(x: IntArray) -> IntArray:
    """``(N, L) -> (N, L)``: running count of even values."""
    return np.cumsum(x % 2 == 0, axis=1, dtype=np.int64)


def add_mod_vec(k: int) -> ScalarVectorRule:
    """``(N, L) -> (N, L)`` Add_Mod_{k}."""

    def rule(x: IntArray) -> IntArray:
        return np.cumsum(x, axis=1) % k

    rule.__name__ = rule.__qualname__ = f"add_mod_{k}_vec"
    return rule


def divide_vec(k: int) -> ScalarVectorRule:
    """``(N, L) -> (N, L)`` Div_{k}."""

    def rule(x: IntArray) -> IntArray:
        out = np.empty_like(x)
        remainder = np.zeros(x.shape[0], np.int64)
        for t in range(x.shape[1]):
            value = 2 * remainder + x[:, t]
            out[:, t] = value // k
            remainder = value % k
        return out

    rule.__name__ = rule.__qualname__ = f"div_{k}_vec"
    return rule


def dithering_vec(x: IntArray) -> IntArray:
    """``(N, L) -> (N, L)``: new multiples of 15 crossed by the running sum."""
    crossed = np.cumsum(x, axis=1) // 15
    previous = np.concatenate([np.zeros((x.shape[0], 1), np.int64), crossed[:, :-1]], axis=1)
    return as_int64(crossed - previous)
