"""Input distributions of the tasks: random draws, support sizes and exhaustive enumeration.

Inputs are i.i.d. uniform over ``input_min..input_max`` at every position and component, except
Bit_Palindrome, whose sequences start with a random palindrome of random length (see
:func:`sample_inputs`). Previous_Equals_Current draws i.i.d. and de-duplicates afterwards, which
changes how many rows come back but not which rows can occur. Arrays are int64
``(N, L, d_in)`` here; :class:`~interplab.mips.tasks.Task` converts to each task's layout.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ._spec import TaskSpec
from ._types import IntArray

__all__ = [
    "deduplicate_rows",
    "enumerate_input_batches",
    "input_space_size",
    "sample_inputs",
]

_PALINDROME_TASK = "Bit_Palindrome"


def sample_inputs(spec: TaskSpec, n: int, length: int, rng: np.random.Generator) -> IntArray:
    """Draw ``n`` input sequences of ``length`` positions from the task's distribution.

    Bit_Palindrome follows the JSON exactly, with 10 read as ``length``: draw ``P`` uniformly
    from ``2..length``, make the first ``P`` bits a palindrome whose first ``ceil(P / 2)`` bits
    are uniform, and fill the other ``length - P`` bits uniformly.

    Args:
        spec: the task.
        n: number of sequences, ``n >= 1``.
        length: positions per sequence (``>= 2`` for Bit_Palindrome).
        rng: the random generator; the only source of randomness.

    Returns:
        int64 ``(n, length, d_in)`` with values in ``[input_min, input_max]``.
    """
    shape = (n, length, spec.input_dims)
    x = rng.integers(spec.input_min, spec.input_max + 1, size=shape, dtype=np.int64)
    if spec.name == _PALINDROME_TASK:
        bits = x[..., 0]
        p = rng.integers(2, length + 1, size=(n, 1), dtype=np.int64)
        positions = np.arange(length, dtype=np.int64)[None, :]
        mirror = (positions >= (p + 1) // 2) & (positions < p)  # second half of the palindrome
        source = np.clip(p - 1 - positions, 0, length - 1)  # in the first half where mirror holds
        bits[mirror] = np.take_along_axis(bits, source, axis=1)[mirror]
    return x


def deduplicate_rows(spec: TaskSpec, x: IntArray, rng: np.random.Generator) -> IntArray:
    """Drop repeated sequences, then shuffle, as ``torch.unique`` over rows and a shuffle do.

    Rows are first sorted lexicographically (what ``torch.unique(x, dim=0)`` returns), then
    permuted with ``rng``.

    Args:
        spec: the task (its alphabet bounds the row codes).
        x: int64 ``(N, L, d_in)``.
        rng: the random generator of the draw.

    Returns:
        int64 ``(M, L, d_in)``, ``M <= N``, each distinct row of ``x`` once, in random order.
    """
    n, length, dims = x.shape
    flat = x.reshape(n, length * dims) - spec.input_min
    if input_space_size(spec, length) < 2**62:  # one int64 code per row, same sort order
        weights = spec.alphabet_size ** np.arange(length * dims - 1, -1, -1, dtype=np.int64)
        _, first = np.unique(flat @ weights, return_index=True)
        unique = x[first]
    else:
        unique = np.unique(x.reshape(n, -1), axis=0).reshape(-1, length, dims)
    return unique[rng.permutation(unique.shape[0])]


def input_space_size(spec: TaskSpec, length: int) -> int:
    """Number of distinct input sequences of ``length`` positions the task can produce.

    ``(input_max - input_min + 1) ** (length * d_in)`` for i.i.d. tasks (de-duplication does not
    change the support). For Bit_Palindrome it is ``2 ** length - 2``: a bit string has a
    palindromic prefix of length >= 2 exactly when its first bit occurs again (the prefix up to
    that reoccurrence, ``a b..b a``, is a palindrome), so only ``0 1..1`` and ``1 0..0`` are
    never drawn.

    Args:
        spec: the task.
        length: positions per sequence.

    Returns:
        The size of the support, an exact Python int.
    """
    if spec.name == _PALINDROME_TASK:
        return int(2**length) - 2
    return int(spec.alphabet_size ** (length * spec.input_dims))


def enumerate_input_batches(spec: TaskSpec, length: int, batch_size: int) -> Iterator[IntArray]:
    """Every input sequence the task can produce, in lexicographic order, in batches.

    Position 0 is the most significant digit; within a position, component 0 comes first.

    Args:
        spec: the task.
        length: positions per sequence.
        batch_size: rows per batch before filtering (Bit_Palindrome batches may be smaller).

    Yields:
        int64 ``(B, length, d_in)`` batches, together holding each sequence exactly once.
    """
    n_digits = length * spec.input_dims
    base = spec.alphabet_size
    total = base**n_digits
    weights = np.array([base ** (n_digits - 1 - j) for j in range(n_digits)], dtype=np.int64)
    for start in range(0, total, batch_size):
        index = np.arange(start, min(start + batch_size, total), dtype=np.int64)
        digits = (index[:, None] // weights[None, :]) % base + spec.input_min
        batch = digits.reshape(-1, length, spec.input_dims)
        if spec.name == _PALINDROME_TASK:
            bits = batch[..., 0]
            batch = batch[np.any(bits[:, 1:] == bits[:, :1], axis=1)]
        yield batch
