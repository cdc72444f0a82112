"""Rules of the Newton_* tasks: a unit-mass particle, unit time step, driven by integer forces.

Velocity and position start at 0 (``v_(-1) = p_(-1) = 0``); each step computes the acceleration
``a_t``, then ``v_t = v_(t-1) + a_t`` and ``p_t = p_(t-1) + v_t``, and outputs ``p_t``. Plain
rules take a list of ints (a list of ``(Fx, Fy)`` pairs for Newton_Magnetic); vectorised twins
take int64 ``(N, L)`` (``(N, L, 2)`` for Newton_Magnetic).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._types import IntArray

__all__ = [
    "newton_freebody",
    "newton_freebody_vec",
    "newton_gravity",
    "newton_gravity_vec",
    "newton_magnetic",
    "newton_magnetic_vec",
    "newton_spring",
    "newton_spring_vec",
]


def newton_freebody(seq: Sequence[int]) -> list[int]:
    """Newton_Freebody: ``a_t = x_t``; the output is the double cumulative sum of x."""
    out, velocity, position = [], 0, 0
    for x in seq:
        velocity += x
        position += velocity
        out.append(position)
    return out


def newton_gravity(seq: Sequence[int]) -> list[int]:
    """Newton_Gravity: ``a_t = x_t - 1``."""
    out, velocity, position = [], 0, 0
    for x in seq:
        velocity += x - 1
        position += velocity
        out.append(position)
    return out


def newton_spring(seq: Sequence[int]) -> list[int]:
    """Newton_Spring: ``a_t = x_t - p_(t-1)`` (spring force from the previous position)."""
    out, velocity, position = [], 0, 0
    for x in seq:
        velocity += x - position
        position += velocity
        out.append(position)
    return out


def newton_magnetic(seq: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Newton_Magnetic: ``a_t = (Fx_t - vy_(t-1), Fy_t + vx_(t-1))``; outputs ``(px_t, py_t)``."""
    out = []
    vx = vy = px = py = 0
    for fx, fy in seq:
        vx, vy = vx + fx - vy, vy + fy + vx
        px, py = px + vx, py + vy
        out.append((px, py))
    return out


# --- vectorised twins ----------------------------------------------------------------------


def newton_freebody_vec(x: IntArray) -> IntArray:
    """``(N, L) -> (N, L)``: cumulative sum of the cumulative sum."""
    return np.cumsum(np.cumsum(x, axis=1), axis=1)


def newton_gravity_vec(x: IntArray) -> IntArray:
    """``(N, L) -> (N, L)``: as Freebody with acceleration ``x - 1``."""
    return np.cumsum(np.cumsum(x - 1, axis=1), axis=1)


def newton_spring_vec(x: IntArray) -> IntArray:
    """``(N, L) -> (N, L)``: forced oscillator, spring force from the previous position."""
    out = np.empty_like(x)
    velocity = np.zeros(x.shape[0], np.int64)
    position = np.zeros(x.shape[0], np.int64)
    for t in range(x.shape[1]):
        velocity = velocity + x[:, t] - position
        position = position + velocity
        out[:, t] = position
    return out


def newton_magnetic_vec(x: IntArray) -> IntArray:
    """``(N, L, 2) -> (N, L, 2)``: positions ``(px, py)`` under the velocity-rotating force."""
    out = np.empty_like(x)
    velocity = np.zeros((x.shape[0], 2), np.int64)
    position = np.zeros((x.shape[0], 2), np.int64)
    for t in range(x.shape[1]):
        vx, vy = velocity[:, 0], velocity[:, 1]
        velocity = np.stack([vx + x[:, t, 0] - vy, vy + x[:, t, 1] + vx], axis=1)
        position = position + velocity
        out[:, t] = position
    return out
