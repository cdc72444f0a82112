"""Run a synthesized program and check it exactly (``mips.md`` §11, the interplab rule).

The reference verified on 10 training sequences. Here a task counts as solved only if the
program is exact on the whole held-out test split and, where the input space at the task's
length is small enough to enumerate (default ``2**20``, which covers every ``≤ 10**6`` space and
the ``4**10`` pair spaces), on every input sequence. Length generalisation (sequences twice as
long) is reported separately and does not decide "solved".

Shapes: ``N`` sequences, ``L`` positions, ``d_in`` / ``d_out`` integers per position.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from interplab.core.errors import ConfigError

from .sequences import IntArray, as_sequences, from_program_outputs, to_program_input
from .tasks import Task, TaskData

__all__ = ["VerificationReport", "count_mismatches", "run_program", "verify_program"]

Program = Callable[[list[Any]], list[Any]]


def run_program(program: Program, inputs: IntArray, d_out: int) -> IntArray:
    """Outputs of ``program`` on every sequence (distinct rows are run once).

    Args:
        program: ``program(seq)`` as emitted.
        inputs: int64 ``(N, L, d_in)``.
        d_out: integers per output position.

    Returns:
        int64 ``(N, L, d_out)``.

    Raises:
        Exception: whatever the program raises.
    """
    unique, inverse = np.unique(inputs, axis=0, return_inverse=True)
    results = np.empty((len(unique), inputs.shape[1], d_out), dtype=np.int64)
    for i, row in enumerate(unique):
        results[i] = from_program_outputs(program(to_program_input(row)), d_out)
    return results[inverse.reshape(-1)]


def count_mismatches(program: Program, inputs: Any, outputs: Any) -> int:
    """Number of sequences on which ``program`` is not exact (a crash counts as all).

    Args:
        program: ``program(seq)``.
        inputs: integer ``(N, L)`` or ``(N, L, d_in)``.
        outputs: integer ``(N, L)`` or ``(N, L, d_out)``.

    Returns:
        Sequences with at least one wrong output.
    """
    x, y = as_sequences(inputs), as_sequences(outputs, name="outputs")
    try:
        got = run_program(program, x, y.shape[2])
    except Exception:  # a crashing program is simply wrong
        return len(x)
    return int((got != y).any(axis=(1, 2)).sum())


@dataclass(frozen=True)
class VerificationReport:
    """How a program fared against a task."""

    exact_test: bool
    """Exact on every sequence of the held-out test split."""
    n_test: int
    exact_exhaustive: bool | None
    """Exact on every input sequence of the task's length; ``None`` if the space is too big."""
    n_exhaustive: int
    exact_2x_length: bool | None
    """Exact on random sequences twice as long; ``None`` if outputs would overflow the dtype."""
    n_2x_length: int

    @property
    def solved(self) -> bool:
        """Exact on the test split and, where enumerated, on the whole input space."""
        return self.exact_test and self.exact_exhaustive is not False


def verify_program(
    program: Program,
    task: Task,
    *,
    test: TaskData | None = None,
    max_exhaustive: int = 2**20,
    n_long: int = 2000,
    seed: int = 0,
) -> VerificationReport:
    """Check ``program`` against ``task``'s test split, its whole input space and 2× length.

    Args:
        program: ``program(seq)``.
        task: the benchmark task (its rule labels the enumerated and long sequences).
        test: the held-out split to check; ``None`` means ``task.splits(n=20_000)[1]``.
        max_exhaustive: enumerate the input space when it has at most this many sequences.
        n_long: random sequences of length ``2 L`` for the length-generalisation check.
        seed: seed of those sequences.

    Returns:
        The report.
    """
    if test is None:
        test = task.splits(n=20_000)[1]
    exact_test = count_mismatches(program, test.inputs, test.outputs) == 0
    exact_all: bool | None = None
    n_all = 0
    if task.input_space_size() <= max_exhaustive:
        exact_all = True
        for batch in task.enumerate_inputs(max_size=max_exhaustive):
            n_all += len(batch)
            if count_mismatches(program, batch, task.compute_outputs(batch)):
                exact_all = False
                break
    exact_long: bool | None
    try:
        long = task.generate(n_long, seed=seed, length=2 * task.spec.seq_len)
    except ConfigError:
        exact_long, n_long = None, 0
    else:
        exact_long = count_mismatches(program, long.inputs, long.outputs) == 0
    return VerificationReport(
        exact_test=exact_test,
        n_test=len(test),
        exact_exhaustive=exact_all,
        n_exhaustive=n_all,
        exact_2x_length=exact_long,
        n_2x_length=n_long,
    )
