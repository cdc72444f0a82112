"""The frozen description of one MIPS benchmark task, as fixed by ``mips_tasks.json``.

Legend used in shapes throughout :mod:`interplab.mips.tasks`: ``N`` sequences, ``L`` positions
per sequence, ``d_in`` / ``d_out`` integers per position of the input / output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interplab.core.errors import ConfigError

__all__ = ["TaskSpec"]

_INTEGER_DTYPES = ("int8", "int16", "int32", "int64")


@dataclass(frozen=True)
class TaskSpec:
    """Exact facts of one benchmark task (Michaud et al. 2024, arXiv 2402.05110, Table 1).

    Every field is copied from the task's entry in ``mips_tasks.json``; nothing is read from
    that file at run time.
    """

    index: int
    """1-based position in the paper's task list (``gpt4/prompt_all.py`` order)."""
    name: str
    """Paper name, e.g. ``"Binary_Addition"``."""
    repo_task_dir: str
    """Generator folder in ``ejmichaud/neural-verification`` (old name), for traceability."""
    description: str
    """One-sentence description of the task."""
    rule_text: str
    """The exact recurrence, verbatim from the JSON ``rule`` field."""
    boundary_convention: str | None
    """What happens before position 0 (zero history, initial carry, …); None if nothing does."""
    input_element_type: str
    """What one input position holds, e.g. ``"pair of base-2 digits"``."""
    input_dims: int
    """``d_in``: integers per input position (1 or 2)."""
    input_min: int
    """Smallest input value (each component)."""
    input_max: int
    """Largest input value (each component)."""
    distribution: str
    """How inputs are drawn, verbatim from the JSON."""
    seq_len: int
    """``L``: positions per sequence in the benchmark (10 or 20)."""
    output_dims: int
    """``d_out``: integers per output position (1, or 2 for Newton_Magnetic)."""
    output_type: str
    """What one output position holds, e.g. ``"bit"``."""
    output_range: tuple[int, int] | None
    """Inclusive (min, max) of outputs at ``seq_len``; None where the JSON gives none (Newton_*)."""
    output_note: str | None
    """The JSON's note on the range where it is not a plain (min, max) pair."""
    n_sequences: int
    """Sequences drawn for the benchmark data set (10**6)."""
    is_deduplicated: bool
    """True if duplicate rows are removed and the rest shuffled before splitting."""
    train_fraction: float
    """Leading fraction of the data set used for training (0.9, or 0.8 for Isaac Liao's tasks)."""
    seed: int
    """Seed of the benchmark data set (42)."""
    x_dtype: str
    """NumPy dtype name of the inputs, e.g. ``"int8"``."""
    y_dtype: str
    """NumPy dtype name of the outputs."""
    x_shape: tuple[int, ...]
    """Shape of one input sequence: ``(L,)`` or ``(L, d_in)``."""
    y_shape: tuple[int, ...]
    """Shape of one output sequence: ``(L,)`` or ``(L, d_out)``."""
    mips_solved: bool
    """Whether MIPS solved the task in the paper (reconstructed, see ``mips.md`` §13)."""
    gpt4_solved: bool
    """Whether the paper's GPT-4 baseline solved the task (``gpt4/task_results.csv``)."""
    pipeline_branch_hidden_dim: int | None
    """Hidden size behind the authors' January 2024 program; None if there was none."""

    def __post_init__(self) -> None:
        for field_name, dtype in (("x_dtype", self.x_dtype), ("y_dtype", self.y_dtype)):
            if dtype not in _INTEGER_DTYPES:
                raise ConfigError(
                    f"TaskSpec {self.name!r}: {field_name}={dtype!r} is not allowed; "
                    f"use one of {', '.join(_INTEGER_DTYPES)}."
                )
        if self.input_min > self.input_max:
            raise ConfigError(
                f"TaskSpec {self.name!r}: input_min={self.input_min} exceeds "
                f"input_max={self.input_max}; swap them."
            )
        if self.x_shape[0] != self.seq_len or self.y_shape[0] != self.seq_len:
            raise ConfigError(
                f"TaskSpec {self.name!r}: x_shape={self.x_shape} and y_shape={self.y_shape} must "
                f"both start with seq_len={self.seq_len}."
            )
        if self.x_shape[1:] not in ((), (self.input_dims,)):
            raise ConfigError(
                f"TaskSpec {self.name!r}: x_shape={self.x_shape} does not fit "
                f"input_dims={self.input_dims}; use ({self.seq_len},) or "
                f"({self.seq_len}, {self.input_dims})."
            )
        if self.y_shape[1:] not in ((), (self.output_dims,)):
            raise ConfigError(
                f"TaskSpec {self.name!r}: y_shape={self.y_shape} does not fit "
                f"output_dims={self.output_dims}; use ({self.seq_len},) or "
                f"({self.seq_len}, {self.output_dims})."
            )
        if (self.input_dims > 1 and len(self.x_shape) == 1) or (
            self.output_dims > 1 and len(self.y_shape) == 1
        ):
            raise ConfigError(
                f"TaskSpec {self.name!r}: a feature axis is needed when dims > 1; "
                f"got x_shape={self.x_shape}, y_shape={self.y_shape}."
            )
        if not 0.0 < self.train_fraction < 1.0:
            raise ConfigError(
                f"TaskSpec {self.name!r}: train_fraction={self.train_fraction} must lie in (0, 1)."
            )

    @property
    def alphabet_size(self) -> int:
        """Number of values one input component can take, ``input_max - input_min + 1``."""
        return self.input_max - self.input_min + 1

    @property
    def has_input_feature_axis(self) -> bool:
        """True if inputs are stored as ``(N, L, d_in)`` rather than ``(N, L)``."""
        return len(self.x_shape) == 2

    @property
    def has_output_feature_axis(self) -> bool:
        """True if outputs are stored as ``(N, L, d_out)`` rather than ``(N, L)``."""
        return len(self.y_shape) == 2

    def x_shape_at(self, length: int) -> tuple[int, ...]:
        """Shape of one input sequence of ``length`` positions, in this task's layout."""
        return (length, *self.x_shape[1:])

    def y_shape_at(self, length: int) -> tuple[int, ...]:
        """Shape of one output sequence of ``length`` positions, in this task's layout."""
        return (length, *self.y_shape[1:])

    @property
    def x_numpy_dtype(self) -> np.dtype[np.signedinteger]:
        """``x_dtype`` as a NumPy dtype."""
        return np.dtype(self.x_dtype)

    @property
    def y_numpy_dtype(self) -> np.dtype[np.signedinteger]:
        """``y_dtype`` as a NumPy dtype."""
        return np.dtype(self.y_dtype)
