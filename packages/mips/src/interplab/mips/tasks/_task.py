"""One benchmark task: its spec, its reference rule, and the data made from them.

Shapes: ``N`` sequences, ``L`` positions, ``d_in`` / ``d_out`` integers per position. A task's
arrays use the layout its spec fixes: ``(N, L)`` when the per-sequence shape is ``(L,)``,
``(N, L, d)`` when it is ``(L, d)`` (Isaac Liao's tasks keep ``d = 1`` as an axis).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from interplab.core.errors import ConfigError, ShapeError

from ._dataset import TaskData
from ._sampling import (
    deduplicate_rows,
    enumerate_input_batches,
    input_space_size,
    sample_inputs,
)
from ._spec import TaskSpec
from ._types import IntArray, Rule, VectorRule

__all__ = ["BoundsFn", "Task"]

BoundsFn = Callable[[TaskSpec, Rule, int], tuple[int, int]]
"""Inclusive (min, max) of a task's outputs at a given length, from its spec and plain rule."""

DEFAULT_MAX_ENUMERATION = 10**6
"""Largest input space :meth:`Task.enumerate_inputs` walks unless told otherwise."""


@dataclass(frozen=True)
class Task:
    """A MIPS benchmark task: spec, plain reference rule and vectorised generator.

    Get one with :func:`~interplab.mips.tasks.get_task`; do not build one by hand.
    """

    spec: TaskSpec
    """The task's exact facts (names, alphabet, lengths, dtypes, split, solved flags)."""
    rule: Rule
    """Reference rule on one sequence: a list of ints (or ``d_in``-tuples) to a list of ints
    (or ``d_out``-tuples). Written from the JSON text, independent of the vectorised rule."""
    _vector_rule: VectorRule = field(repr=False)
    _bounds: BoundsFn | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The paper's name of the task."""
        return self.spec.name

    # --- data --------------------------------------------------------------------------------

    def generate(self, n: int, *, seed: int, length: int | None = None) -> TaskData:
        """Draw ``n`` sequences from the task's distribution and label them with its rule.

        Draws come from ``numpy.random.default_rng(seed)`` (not the original scripts' torch
        RNG, so rows differ from the authors' ``data.pt`` while following the same law). For a
        de-duplicated task (Previous_Equals_Current) ``n`` rows are drawn, duplicates removed
        and the rest shuffled, so fewer than ``n`` may come back.

        Args:
            n: sequences to draw, ``n >= 1``.
            seed: seed of the draw; the same seed gives the same data.
            length: positions per sequence; ``None`` means ``spec.seq_len``. Use e.g.
                ``2 * spec.seq_len`` to test length generalisation.

        Returns:
            Inputs ``(n, L)`` or ``(n, L, d_in)`` of ``spec.x_dtype`` and outputs ``(n, L)`` or
            ``(n, L, d_out)`` of ``spec.y_dtype``, in the spec's layout.

        Raises:
            ConfigError: ``n``, ``seed`` or ``length`` is out of range, or ``length`` is so long
                that outputs would overflow ``spec.y_dtype``.
        """
        _check_count("n", n, self.name)
        _check_seed(seed, self.name)
        length = self._resolve_length(length)
        low, high = self.output_bounds(length)
        info = np.iinfo(self.spec.y_numpy_dtype)
        if low < info.min or high > info.max:
            raise ConfigError(
                f"length={length} lets {self.name} outputs reach {low}..{high}, beyond "
                f"{self.spec.y_dtype} ({info.min}..{info.max}); use a shorter length."
            )
        rng = np.random.default_rng(seed)
        x = sample_inputs(self.spec, n, length, rng)
        if self.spec.is_deduplicated:
            x = deduplicate_rows(self.spec, x, rng)
        y = self._vector_rule(x)
        return TaskData(inputs=self._x_layout(x), outputs=self._y_layout(y), name=self.name)

    def splits(self, *, seed: int | None = None, n: int | None = None) -> tuple[TaskData, TaskData]:
        """The train and test sets: one draw, the leading ``train_fraction`` of rows for training.

        As in the paper's generators, the data set is sliced, train first:
        ``n_train = floor(len(data) * spec.train_fraction)`` (exact decimal arithmetic).

        Args:
            seed: seed of the draw; ``None`` means the benchmark's ``spec.seed`` (42).
            n: sequences to draw; ``None`` means ``spec.n_sequences`` (10**6 for every task),
                i.e. 900,000 training sequences (800,000 for the 14 tasks with
                ``train_fraction = 0.8``). That is far more than :func:`~interplab.mips.synthesize`
                needs: pass e.g. ``n=20_000`` (about the benchmark's size) for quicker runs.

        Returns:
            ``(train, test)``, disjoint by row index, in the spec's layout and dtypes.

        Raises:
            ConfigError: ``n`` leaves the train or the test set empty.
        """
        data = self.generate(
            self.spec.n_sequences if n is None else n,
            seed=self.spec.seed if seed is None else seed,
        )
        n_train = int(len(data) * Fraction(str(self.spec.train_fraction)))
        if n_train == 0 or n_train == len(data):
            raise ConfigError(
                f"n={n} gives {self.name} {len(data)} sequences, of which "
                f"train_fraction={self.spec.train_fraction} leaves an empty train or test set; "
                "use a larger n."
            )
        train = TaskData(data.inputs[:n_train], data.outputs[:n_train], self.name)
        test = TaskData(data.inputs[n_train:], data.outputs[n_train:], self.name)
        return train, test

    # --- labelling ---------------------------------------------------------------------------

    def compute_outputs(self, inputs: np.ndarray) -> np.ndarray:
        """Label inputs with the vectorised rule (the one :meth:`generate` uses).

        Args:
            inputs: integer ``(N, L)`` or ``(N, L, d_in)`` in the spec's layout, values in
                ``[input_min, input_max]``; any ``L >= 1``.

        Returns:
            ``(N, L)`` or ``(N, L, d_out)`` of ``spec.y_dtype``.

        Raises:
            ConfigError: a value lies outside the alphabet, or outputs overflow the dtype.
            ShapeError: the array is not in the spec's layout.
        """
        x = self._canonical_inputs(inputs)
        return self._y_layout(self._vector_rule(x))

    def apply_rule(self, inputs: np.ndarray) -> np.ndarray:
        """Label inputs with the plain reference rule, one sequence at a time (slow, reference).

        Args:
            inputs: as for :meth:`compute_outputs`.

        Returns:
            As for :meth:`compute_outputs`.
        """
        x = self._canonical_inputs(inputs)
        rows = []
        for sequence in x.tolist():
            seq = (
                [v[0] for v in sequence]
                if self.spec.input_dims == 1
                else list(map(tuple, sequence))
            )
            rows.append(self.rule(seq))
        y = np.array(rows, dtype=np.int64).reshape(x.shape[0], x.shape[1], self.spec.output_dims)
        return self._y_layout(y)

    def output_bounds(self, length: int | None = None) -> tuple[int, int]:
        """Inclusive (min, max) that outputs can take at ``length`` positions.

        Equals ``spec.output_range`` at ``spec.seq_len`` where the JSON gives one. Sum_All and
        Evens_Counter grow with the length; for the Newton tasks (no range in the JSON) these are
        the exact extremes of their affine recurrences over the input box.

        Args:
            length: positions; ``None`` means ``spec.seq_len``.

        Returns:
            ``(low, high)`` over all positions and output components.
        """
        length = self._resolve_length(length)
        if self._bounds is not None:
            return self._bounds(self.spec, self.rule, length)
        if self.spec.output_range is None:  # pragma: no cover - every such task has bounds
            raise ConfigError(f"{self.name} declares no output range.")
        return self.spec.output_range

    # --- exhaustive verification -------------------------------------------------------------

    def input_space_size(self, length: int | None = None) -> int:
        """Number of distinct input sequences of ``length`` the task's distribution can produce.

        ``(input_max - input_min + 1) ** (L * d_in)`` for i.i.d. tasks and
        ``2 ** L - 2`` for Bit_Palindrome (see :func:`enumerate_inputs`).

        Args:
            length: positions; ``None`` means ``spec.seq_len``.

        Returns:
            The exact count.
        """
        return input_space_size(self.spec, self._resolve_length(length))

    def enumerate_inputs(
        self,
        length: int | None = None,
        *,
        max_size: int = DEFAULT_MAX_ENUMERATION,
        batch_size: int = 65_536,
    ) -> Iterator[np.ndarray]:
        """Every input sequence of ``length`` positions, in lexicographic order, in batches.

        Use it to verify a program exhaustively: together the batches hold each sequence of the
        support exactly once (``input_space_size(length)`` rows).

        Args:
            length: positions; ``None`` means ``spec.seq_len``.
            max_size: refuse input spaces larger than this (default 10**6).
            batch_size: rows per batch (Bit_Palindrome batches may hold fewer).

        Yields:
            ``(B, L)`` or ``(B, L, d_in)`` arrays of ``spec.x_dtype`` in the spec's layout.

        Raises:
            ConfigError: the input space is larger than ``max_size``.
        """
        length = self._resolve_length(length)
        _check_count("batch_size", batch_size, self.name)
        size = input_space_size(self.spec, length)
        if size > max_size:
            raise ConfigError(
                f"{self.name} has {size} input sequences of length {length}, more than "
                f"max_size={max_size}; raise max_size, use a shorter length, or verify on "
                "generate() samples instead."
            )
        for batch in enumerate_input_batches(self.spec, length, batch_size):
            yield self._x_layout(batch)

    # --- helpers -----------------------------------------------------------------------------

    def _resolve_length(self, length: int | None) -> int:
        if length is None:
            return self.spec.seq_len
        shortest = 2 if self.name == "Bit_Palindrome" else 1
        if (
            isinstance(length, bool)
            or not isinstance(length, int | np.integer)
            or length < shortest
        ):
            raise ConfigError(
                f"length={length!r} is not allowed for {self.name}; pass an int >= {shortest} "
                f"(the benchmark uses {self.spec.seq_len})."
            )
        return int(length)

    def _x_layout(self, x: IntArray) -> np.ndarray:
        """int64 ``(N, L, d_in)`` to the spec's input layout and dtype."""
        x = x if self.spec.has_input_feature_axis else x[..., 0]
        return x.astype(self.spec.x_numpy_dtype)

    def _y_layout(self, y: IntArray) -> np.ndarray:
        """int64 ``(N, L, d_out)`` to the spec's output layout and dtype, checking for overflow."""
        info = np.iinfo(self.spec.y_numpy_dtype)
        if y.size and (y.min() < info.min or y.max() > info.max):
            raise ConfigError(
                f"{self.name} outputs reach {y.min()}..{y.max()}, beyond {self.spec.y_dtype}; "
                "use shorter sequences."
            )
        y = y if self.spec.has_output_feature_axis else y[..., 0]
        return y.astype(self.spec.y_numpy_dtype)

    def _canonical_inputs(self, inputs: np.ndarray) -> IntArray:
        """Check ``inputs`` against the spec's layout and alphabet; return int64 (N, L, d_in)."""
        array = np.asarray(inputs)
        dims = self.spec.input_dims
        if self.spec.has_input_feature_axis:
            expected, is_valid = f"(N, L, {dims})", array.ndim == 3 and array.shape[2] == dims
        else:
            expected, is_valid = "(N, L)", array.ndim == 2
        if not is_valid:
            fix = " Add the feature axis with inputs[..., None]." if array.ndim == 2 else ""
            raise ShapeError(
                f"{self.name} inputs must be {expected}; got shape {array.shape}.{fix}"
            )
        if not np.issubdtype(array.dtype, np.integer):
            raise ConfigError(
                f"{self.name} inputs have dtype {array.dtype}; pass integers "
                f"(e.g. inputs.astype(np.{self.spec.x_dtype}))."
            )
        x = array.astype(np.int64).reshape(array.shape[0], array.shape[1], dims)
        is_outside = (x < self.spec.input_min) | (x > self.spec.input_max)
        if is_outside.any():
            row, position, _ = np.argwhere(is_outside)[0]
            raise ConfigError(
                f"{self.name} inputs hold {x[is_outside][0]} at sequence {row}, position "
                f"{position}, outside its alphabet {self.spec.input_min}..{self.spec.input_max}."
            )
        return x


def _check_count(name: str, value: int, task: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ConfigError(f"{name}={value!r} is not allowed for {task}; pass an int >= 1.")


def _check_seed(seed: int, task: str) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(
            f"seed={seed!r} is not allowed for {task}; pass a non-negative int "
            "(every draw takes its seed explicitly)."
        )
