"""A MIPS task as a causal language-modelling problem: tokens, interleaving, output positions.

Legend: ``N`` sequences, ``L`` positions of the task, ``T = 2L + 1`` tokens per encoded row,
``d_in`` / ``d_out`` integers per task position, ``V`` vocabulary size.

Vocabulary (disjoint ranges, so an input ``7`` and an output ``7`` are different tokens):

- ``0``: BOS (also the padding id; nothing is ever padded, every row has ``T`` tokens);
- ``1 .. n_in``: one token per input *element* (a ``d_in``-tuple is one token, mixed radix);
- ``1 + n_in .. n_in + n_out``: one token per output element (range: ``task.output_bounds``).

A sequence ``x_1..x_L -> y_1..y_L`` becomes the row ``BOS x_1 y_1 x_2 y_2 … x_L y_L``. A causal
model reading this row predicts ``y_t`` at the position of ``x_t`` (token ``2t - 1``, 1-based
``t``) having seen exactly ``x_1..x_t`` and ``y_1..y_{t-1}``; every MIPS rule is a function of
``x_1..x_t``, so the previous outputs are redundant but harmless (they are the rule's own
values, never the model's guesses: teacher forcing, as at test time). Only the ``L`` positions
that predict a ``y`` are trained and scored; the ``x`` tokens are i.i.d. draws and predicting
them is meaningless.

The robustness metrics score position ``p`` iff ``mask[p + 1]`` is True (``target_mask =
mask[:, 1:]``), and the logit lens keeps ``p`` iff ``mask[p] & mask[p + 1]`` (and ``p > 0``).
:func:`sweep_tokens` sets the mask at BOS and the ``y`` tokens, so the sweep scores exactly the
``L`` output predictions of every row. No single mask restricts the lens to those positions
(``x_t`` and ``y_t`` both need True, which also admits ``y_t -> x_{t+1}``), so
:func:`lens_tokens` repeats each row once per output position with only that ``x_t, y_t`` pair
marked; the models are causal and are never given the mask, so the numbers are those of the
single row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from interplab.core.errors import ConfigError

if TYPE_CHECKING:
    from interplab.robustness.tokens import TokenSet

__all__ = [
    "BOS_ID",
    "TaskVocabulary",
    "interleave",
    "lens_tokens",
    "output_mask",
    "prediction_mask",
    "sweep_tokens",
]

BOS_ID = 0


def _as_3d(values: Any) -> np.ndarray:
    """``(N, L)`` or ``(N, L, d)`` integers as ``(N, L, d)`` int64."""
    array = np.asarray(values)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3:
        raise ConfigError(f"expected (N, L) or (N, L, d) integers, got shape {array.shape}.")
    return array.astype(np.int64)


@dataclass(frozen=True)
class TaskVocabulary:
    """Token ids of one MIPS task (module docstring).

    Attributes:
        task: the task's name.
        input_min: smallest value of an input component.
        input_base: values per input component (``input_max - input_min + 1``).
        input_dims: ``d_in``.
        output_min: smallest value of an output component.
        output_base: values per output component.
        output_dims: ``d_out``.
        squeeze_outputs: outputs are ``(N, L)`` in the task's layout (else ``(N, L, d_out)``).
    """

    task: str
    input_min: int
    input_base: int
    input_dims: int
    output_min: int
    output_base: int
    output_dims: int
    squeeze_outputs: bool = True

    @classmethod
    def of(cls, task: Any, *, max_size: int = 4096) -> TaskVocabulary:
        """The vocabulary of a :class:`interplab.mips.tasks.Task` at its benchmark length.

        Raises:
            ConfigError: the vocabulary would exceed ``max_size`` tokens.
        """
        spec = task.spec
        low, high = task.output_bounds()
        vocab = cls(
            task=task.name,
            input_min=int(spec.input_min),
            input_base=int(spec.input_max - spec.input_min + 1),
            input_dims=int(spec.input_dims),
            output_min=int(low),
            output_base=int(high - low + 1),
            output_dims=int(spec.output_dims),
            squeeze_outputs=len(spec.y_shape) == 1,
        )
        if vocab.size > max_size:
            raise ConfigError(
                f"task {task.name!r} needs {vocab.size} tokens ({vocab.n_inputs} inputs, "
                f"{vocab.n_outputs} outputs, BOS), more than max_vocab={max_size}; raise "
                "max_vocab or pick a task with a smaller alphabet."
            )
        return vocab

    @property
    def n_inputs(self) -> int:
        """Distinct input elements (``input_base ** d_in``)."""
        return int(self.input_base**self.input_dims)

    @property
    def n_outputs(self) -> int:
        """Distinct output elements (``output_base ** d_out``)."""
        return int(self.output_base**self.output_dims)

    @property
    def size(self) -> int:
        """``V``: BOS, the inputs and the outputs."""
        return 1 + self.n_inputs + self.n_outputs

    @property
    def first_output(self) -> int:
        """Token id of the smallest output element."""
        return 1 + self.n_inputs

    @staticmethod
    def _index(values: np.ndarray, low: int, base: int) -> np.ndarray:
        """``(N, L, d)`` -> ``(N, L)`` mixed-radix index, first component most significant."""
        digits = values - low
        if digits.size and (int(digits.min()) < 0 or int(digits.max()) >= base):
            raise ConfigError(
                f"values {int(values.min())}..{int(values.max())} fall outside "
                f"{low}..{low + base - 1}, the range this vocabulary was built for."
            )
        index = np.zeros(values.shape[:2], dtype=np.int64)
        for k in range(values.shape[2]):
            index = index * base + digits[..., k]
        return index

    @staticmethod
    def _digits(index: np.ndarray, low: int, base: int, dims: int) -> np.ndarray:
        """Inverse of :meth:`_index`: ``(N, L)`` -> ``(N, L, dims)``."""
        out = np.zeros((*index.shape, dims), dtype=np.int64)
        rest = index.copy()
        for k in range(dims - 1, -1, -1):
            out[..., k] = rest % base + low
            rest //= base
        return out

    def encode_inputs(self, inputs: Any) -> np.ndarray:
        """``(N, L)`` token ids of inputs ``(N, L)`` or ``(N, L, d_in)``."""
        x = _as_3d(inputs)
        if x.shape[2] != self.input_dims:
            raise ConfigError(f"{self.task}: inputs have {x.shape[2]} dims, not {self.input_dims}.")
        return 1 + self._index(x, self.input_min, self.input_base)

    def encode_outputs(self, outputs: Any) -> np.ndarray:
        """``(N, L)`` token ids of outputs ``(N, L)`` or ``(N, L, d_out)``."""
        y = _as_3d(outputs)
        if y.shape[2] != self.output_dims:
            raise ConfigError(
                f"{self.task}: outputs have {y.shape[2]} dims, not {self.output_dims}."
            )
        return self.first_output + self._index(y, self.output_min, self.output_base)

    def decode_outputs(self, tokens: Any) -> np.ndarray:
        """Output values of output token ids ``(N, L)``, in the task's layout.

        Raises:
            ConfigError: a token is not an output token (BOS or an input symbol).
        """
        ids = np.asarray(tokens, dtype=np.int64)
        index = ids - self.first_output
        if index.size and (int(index.min()) < 0 or int(index.max()) >= self.n_outputs):
            raise ConfigError(f"{self.task}: some tokens are not output tokens.")
        values = self._digits(index, self.output_min, self.output_base, self.output_dims)
        return values[..., 0] if self.squeeze_outputs else values

    def token_names(self) -> list[str]:
        """``V`` readable names: ``<bos>``, ``x:5`` / ``x:0,1`` and ``y:12`` / ``y:1,-2``."""
        names = ["<bos>"]
        for prefix, n, low, base, dims in (
            ("x", self.n_inputs, self.input_min, self.input_base, self.input_dims),
            ("y", self.n_outputs, self.output_min, self.output_base, self.output_dims),
        ):
            digits = self._digits(np.arange(n)[None, :], low, base, dims)[0]
            names += [f"{prefix}:" + ",".join(str(int(v)) for v in row) for row in digits]
        return names


def interleave(x_tokens: np.ndarray, y_tokens: np.ndarray) -> np.ndarray:
    """``(N, 2L + 1)`` rows ``BOS x_1 y_1 … x_L y_L`` from ``(N, L)`` input and output ids."""
    n, length = x_tokens.shape
    rows = np.full((n, 2 * length + 1), BOS_ID, dtype=np.int64)
    rows[:, 1::2] = x_tokens
    rows[:, 2::2] = y_tokens
    return rows


def output_mask(n: int, length: int) -> np.ndarray:
    """``(n, 2L + 1)`` bool: True at the ``y`` tokens."""
    mask = np.zeros((n, 2 * length + 1), dtype=bool)
    mask[:, 2::2] = True
    return mask


def prediction_mask(n: int, length: int) -> np.ndarray:
    """``(n, 2L + 1)`` bool: True at the positions that predict a ``y`` (the ``x`` tokens)."""
    mask = np.zeros((n, 2 * length + 1), dtype=bool)
    mask[:, 1::2] = True
    return mask


def _token_set(ids: np.ndarray, mask: np.ndarray, doc_ids: list[str], batch_size: int) -> TokenSet:
    import torch

    from interplab.robustness.tokens import TokenBatch, TokenSet

    ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)
    batches = tuple(
        TokenBatch(
            ids_t[start : start + batch_size],
            mask_t[start : start + batch_size],
            tuple(doc_ids[start : start + batch_size]),
        )
        for start in range(0, len(ids), batch_size)
    )
    return TokenSet(batches, int(mask.sum()), ids.shape[1], BOS_ID, BOS_ID)


def sweep_tokens(rows: np.ndarray, *, batch_size: int = 256) -> TokenSet:
    """Rows ``(N, T)`` as a TokenSet whose metrics score exactly the ``y`` predictions.

    The mask is True at BOS and the ``y`` tokens, so ``target_mask = mask[:, 1:]`` selects the
    ``N × L`` positions holding an ``x`` (module docstring). Document ids are ``"0"``, ``"1"``…
    """
    n, width = rows.shape
    mask = output_mask(n, (width - 1) // 2)
    mask[:, 0] = True
    return _token_set(rows, mask, [str(i) for i in range(n)], batch_size)


def lens_tokens(rows: np.ndarray, *, batch_size: int = 256) -> TokenSet:
    """Rows ``(N, T)`` repeated per output position, for the logit lens (module docstring).

    Row ``i * L + (t - 1)`` is row ``i`` with only ``x_t`` and ``y_t`` marked, so the lens keeps
    exactly the position of ``x_t``. Document ids are ``"<i>:<t>"``. ``N × L`` rows.
    """
    n, width = rows.shape
    length = (width - 1) // 2
    ids = np.repeat(rows, length, axis=0)
    mask = np.zeros_like(ids, dtype=bool)
    t = np.tile(np.arange(length), n)
    mask[np.arange(len(ids)), 2 * t + 1] = True
    mask[np.arange(len(ids)), 2 * t + 2] = True
    doc_ids = [f"{i}:{k + 1}" for i in range(n) for k in range(length)]
    return _token_set(ids, mask, doc_ids, batch_size)
