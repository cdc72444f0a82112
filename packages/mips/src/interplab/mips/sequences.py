"""Canonical integer sequence arrays shared by every pipeline stage.

Shapes: ``N`` sequences, ``L`` positions, ``d_in`` / ``d_out`` integers per position. Task data
comes as ``(N, L)`` or ``(N, L, d)``; the pipeline works on int64 ``(N, L, d)`` throughout, and a
synthesized program takes one sequence as a list of ints (``d_in = 1``) or of ``d_in``-tuples.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from interplab.core.errors import ConfigError, ShapeError

__all__ = [
    "IntArray",
    "as_sequences",
    "check_pair",
    "from_program_outputs",
    "to_program_input",
]

IntArray = NDArray[np.int64]
"""An int64 array."""


def as_sequences(array: Any, *, name: str = "inputs") -> IntArray:
    """Return ``array`` as int64 ``(N, L, d)``.

    Args:
        array: integer ``(N, L)`` or ``(N, L, d)``.
        name: what the array is, for error messages.

    Returns:
        int64 ``(N, L, d)`` (a view when no conversion is needed).

    Raises:
        ShapeError: the array is not 2-D or 3-D.
        ConfigError: the array does not hold integers.
    """
    values = np.asarray(array)
    if values.ndim not in (2, 3):
        raise ShapeError(
            f"{name} has shape {values.shape}; pass (N, L) or (N, L, d) integer sequences."
        )
    if not np.issubdtype(values.dtype, np.integer):
        raise ConfigError(
            f"{name} has dtype {values.dtype}; pass integers, e.g. {name}.astype(np.int64)."
        )
    values = values.astype(np.int64, copy=False)
    return values[..., None] if values.ndim == 2 else values


def check_pair(inputs: IntArray, outputs: IntArray) -> None:
    """Raise unless ``inputs`` and ``outputs`` have the same ``N`` and ``L`` and ``N >= 1``.

    Args:
        inputs: int64 ``(N, L, d_in)``.
        outputs: int64 ``(N, L, d_out)``.

    Raises:
        ShapeError: N or L differ, or there are no sequences.
    """
    if inputs.shape[:2] != outputs.shape[:2]:
        raise ShapeError(
            f"inputs have (N, L) = {inputs.shape[:2]} but outputs have {outputs.shape[:2]}; "
            "pass one output per input position."
        )
    if inputs.shape[0] == 0 or inputs.shape[1] == 0:
        raise ShapeError(f"inputs have shape {inputs.shape}; pass at least one non-empty sequence.")


def to_program_input(row: IntArray) -> list[Any]:
    """One sequence ``(L, d_in)`` as a program takes it: ints for ``d_in = 1``, else tuples."""
    values = row.tolist()
    if row.shape[1] == 1:
        return [v[0] for v in values]
    return [tuple(v) for v in values]


def from_program_outputs(values: Sequence[Any], d_out: int) -> IntArray:
    """A program's output list as int64 ``(L, d_out)``.

    Args:
        values: ints (``d_out = 1``) or ``d_out``-tuples, one per position.
        d_out: integers per output position.

    Returns:
        int64 ``(L, d_out)``.

    Raises:
        ShapeError: an element does not have ``d_out`` components.
    """
    rows = [[v] if d_out == 1 and not isinstance(v, tuple | list) else list(v) for v in values]
    if any(len(r) != d_out for r in rows):
        raise ShapeError(f"a program output element does not have d_out={d_out} components.")
    return np.array(rows, dtype=np.int64).reshape(len(rows), d_out)
