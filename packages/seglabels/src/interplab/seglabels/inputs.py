"""Checked, batched access to ``labels`` and ``pred_probs`` of any size.

Legend: N images, K classes, H×W pixels, P = H·W. ``labels`` int (N, H, W) in ``[0, K)`` (or the
ignore index); ``pred_probs`` float (N, K, H, W), summing to 1 over K. Either may be a numpy
array, a torch tensor or a memory-mapped array.

Two levels: :func:`iter_batches` reads ~64 MiB of images at a time (memory is bounded by one
batch, never a dense float64 copy of the whole input); :func:`iter_chunks` cuts a batch into
pieces of ~2 MiB that stay in the CPU cache while they are checked *and* scored, so checking
the values costs no extra trip through memory (pieces that small would fit the L2 cache, but
then numpy's per-call overhead costs more than the cache saves).
"""

from __future__ import annotations

import functools
import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from interplab.core.errors import ConfigError, ShapeError

__all__ = [
    "Batch", "Chunk", "check_inputs", "iter_batches", "iter_chunks", "map_chunks", "to_numpy",
]  # fmt: skip

_R = TypeVar("_R")

PROB_TOLERANCE = 1e-3
"""How far from 1 the sum of a pixel's probabilities over K may be (float16 outputs need ~1e-3)."""
BFLOAT16_PROB_TOLERANCE = 4e-3
"""The same for torch bfloat16 ``pred_probs``: rounding each probability to 8 significant bits
moves the sum by up to 2⁻⁹ ≈ 2e-3."""
_BATCH_BYTES = 64 * 2**20
_CHUNK_BYTES = 2 * 2**20
_MIN_CHUNK_PIXELS = 4096
CHUNKS_PER_TASK = 8
"""Chunks a worker thread of :func:`map_chunks` takes at a time. Handing a task to a thread and
its result back costs about as much as checking and scoring one 2 MiB chunk; in tasks of 8, the
softmin of the benchmark on 2 threads took 85 ms instead of 113, the issue mask 166 instead
of 191 (medians of 7, 2026-11-24)."""


@dataclass(frozen=True)
class Batch:
    """Images ``start:stop`` of the dataset as numpy arrays."""

    start: int
    stop: int
    labels: np.ndarray
    """int64 (B, H, W); ignored pixels hold 0."""
    pred_probs: np.ndarray
    """float (B, K, H, W), the input's dtype, C-contiguous."""
    valid: np.ndarray | None
    """bool (B, H, W): pixels not equal to the ignore index; ``None`` when there is none."""
    tolerance: float = PROB_TOLERANCE
    """How far from 1 a pixel's sum over K may be (:func:`prob_tolerance` of the input)."""


@dataclass(slots=True)
class Chunk:
    """Pixels ``lo:lo + c`` (of the P = H·W of each image) of images ``start:start + b``.

    Either whole images (``lo = 0``, ``c = P``) or a piece of one image (``b = 1``).
    """

    start: int
    """Dataset index of the first image."""
    lo: int
    """First pixel (flattened row-major index in ``[0, P)``)."""
    labels: np.ndarray
    """int64 (b, c)."""
    pred_probs: np.ndarray
    """float (b, K, c), a view of the batch."""
    valid: np.ndarray | None
    """bool (b, c) or ``None`` (every pixel counts)."""
    width: int
    """W, to turn a pixel index into (row, column)."""
    flat: np.ndarray
    """1-D view of the batch's ``pred_probs`` starting at element (first image, class 0, lo)."""
    offsets: np.ndarray
    """int64 (b, c): position of (image j, class 0, pixel lo + q) in ``flat``: j·K·P + q."""
    labels_checked: bool
    """Whether the labels were checked to lie in ``[0, K)`` (then gathers skip bounds checks)."""
    class_offsets: np.ndarray
    """int64 (K,): k·P, the position of class k relative to class 0 in ``flat``."""
    tolerance: float = PROB_TOLERANCE
    """How far from 1 a pixel's sum over K may be."""

    @property
    def pixels(self) -> int:
        """P = H·W, the stride between classes in ``flat``."""
        return int(self.pred_probs.strides[1] // self.pred_probs.itemsize)

    def self_confidence(self) -> np.ndarray:
        """(b, c) probability of each pixel's label, in the input's dtype (bit-exact)."""
        index = np.multiply(self.labels, self.pixels)
        index += self.offsets
        return np.take(self.flat, index, mode="wrap" if self.labels_checked else "raise")

    def probs_at(self, pixels: np.ndarray) -> np.ndarray:
        """(m, K) probabilities of the chunk's pixels ``pixels`` (flat indices into (b, c))."""
        base = pixels if len(self.labels) == 1 else self.offsets.reshape(-1)[pixels]
        return np.take(self.flat, base[:, None] + self.class_offsets, mode="wrap")

    def first_argmax(self, pixels: np.ndarray) -> np.ndarray:
        """(m,) first class of largest probability (``np.argmax`` ties) at ``pixels``."""
        return self.probs_at(pixels).argmax(axis=1)

    def pixel_index(self, pixels: np.ndarray) -> np.ndarray:
        """int64 (m,) dataset-wide pixel index ``image·P + pixel`` of chunk pixels ``pixels``."""
        if len(self.labels) == 1:
            return pixels + (self.start * self.pixels + self.lo)
        image, pixel = np.divmod(pixels, self.labels.shape[1])
        return (self.start + image) * self.pixels + self.lo + pixel


def _shape(array: Any) -> tuple[int, ...]:
    shape = getattr(array, "shape", None)
    if shape is None:
        raise ShapeError(
            f"expected an array (numpy, torch or memmap), got {type(array).__name__}; "
            "convert it with np.asarray first."
        )
    return tuple(int(s) for s in shape)


def check_inputs(labels: Any, pred_probs: Any) -> tuple[int, int, int, int]:
    """Check shapes (not values) and return ``(N, K, H, W)``.

    Raises:
        ShapeError: wrong number of dimensions, mismatched N/H/W, an empty dataset, K < 2.
    """
    label_shape, prob_shape = _shape(labels), _shape(pred_probs)
    if len(label_shape) != 3:
        raise ShapeError(f"labels must have shape (N, H, W); got shape {label_shape}.")
    if len(prob_shape) != 4:
        raise ShapeError(f"pred_probs must have shape (N, K, H, W); got shape {prob_shape}.")
    n, k, h, w = prob_shape
    if (n, h, w) != label_shape:
        raise ShapeError(
            f"labels has shape {label_shape} but pred_probs has shape {prob_shape}; their N, H "
            f"and W must agree (pred_probs is (N, K, H, W): for channels-last data use "
            "np.moveaxis(pred_probs, -1, 1))."
        )
    if n == 0 or h == 0 or w == 0:
        raise ShapeError(f"the dataset is empty: labels has shape {label_shape}.")
    if k < 2:
        raise ShapeError(f"pred_probs has K={k} classes; at least 2 are needed.")
    return n, k, h, w


def to_numpy(array: Any) -> np.ndarray:
    """A C-contiguous numpy array of a numpy/memmap/torch array (any device; bfloat16 → float32)."""
    if hasattr(array, "detach"):
        array = array.detach().cpu()
        if str(array.dtype) == "torch.bfloat16":
            array = array.float()
        return np.ascontiguousarray(array.numpy())
    return np.ascontiguousarray(array)


def prob_dtype(pred_probs: Any) -> np.dtype:
    """The numpy dtype batches of ``pred_probs`` will have (torch bfloat16 reads as float32)."""
    if hasattr(pred_probs, "detach"):
        name = str(pred_probs.dtype).removeprefix("torch.")
        return np.dtype("float32" if name == "bfloat16" else name)
    return np.dtype(pred_probs.dtype)


def prob_tolerance(pred_probs: Any) -> float:
    """How far from 1 the sums over K of ``pred_probs`` may be: wider for torch bfloat16."""
    bfloat16 = hasattr(pred_probs, "detach") and str(pred_probs.dtype) == "torch.bfloat16"
    return BFLOAT16_PROB_TOLERANCE if bfloat16 else PROB_TOLERANCE


def default_batch_size(k: int, h: int, w: int, itemsize: int = 4) -> int:
    """Images per batch so that one batch of pred_probs is about 64 MiB (at least 1)."""
    return max(1, _BATCH_BYTES // max(1, k * h * w * itemsize))


def iter_batches(
    labels: Any,
    pred_probs: Any,
    *,
    batch_size: int | None = None,
    ignore_index: int | None = None,
    check_values: bool = True,
    progress: bool = False,
    description: str = "scoring",
) -> Iterator[Batch]:
    """Yield batches of images, their dtypes checked (and their values, if asked).

    Args:
        labels: int (N, H, W).
        pred_probs: float (N, K, H, W).
        batch_size: images per batch; default keeps a batch near 64 MiB.
        ignore_index: label value of pixels to leave out (e.g. 255 for "void").
        check_values: check label range and probabilities (negative, NaN, sum over K) of every
            batch before yielding it. Callers that check each chunk as they consume it
            (:func:`iter_chunks`) pass False.
        progress: show a progress bar (rich) over batches.
        description: text of the progress bar.

    Raises:
        ShapeError: see :func:`check_inputs`.
        ConfigError: a float label or integer probabilities; with ``check_values``, see
            :func:`check_chunk`.
    """
    n, k, h, w = check_inputs(labels, pred_probs)
    if batch_size is None:
        batch_size = default_batch_size(k, h, w, prob_dtype(pred_probs).itemsize)
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int | np.integer)
        or batch_size < 1
    ):
        raise ConfigError(
            f"batch_size={batch_size!r} must be a whole number of images, at least 1."
        )
    tolerance = prob_tolerance(pred_probs)
    starts: Iterable[int] = range(0, n, batch_size)
    if progress and n > batch_size:
        from rich.progress import track

        starts = track(starts, description=description, total=-(-n // batch_size), transient=True)
    for start in starts:
        stop = min(start + batch_size, n)
        lab = to_numpy(labels[start:stop])
        prob = to_numpy(pred_probs[start:stop])
        if not np.issubdtype(lab.dtype, np.integer):
            raise ConfigError(
                f"labels must be integers (class ids); got dtype {lab.dtype}. "
                "Convert with labels.astype(np.int64) if they are whole numbers."
            )
        if not np.issubdtype(prob.dtype, np.floating):
            raise ConfigError(f"pred_probs must be floating point; got dtype {prob.dtype}.")
        if lab.dtype == np.uint64:
            lab = np.minimum(lab, np.iinfo(np.int64).max)  # out-of-range labels stay out of range
        lab = lab.astype(np.int64, copy=False)
        valid = None
        if ignore_index is not None:
            valid = lab != ignore_index
            lab = np.where(valid, lab, 0)  # any in-range class; ignored pixels are masked out
        batch = Batch(start, stop, lab, prob, valid, tolerance)
        if check_values:
            for _ in iter_chunks(batch, check_values=True, ignore_index=ignore_index):
                pass  # each chunk is checked as it is cut
        yield batch


def _chunk_plan(batch: Batch) -> tuple[int, int]:
    """(images per chunk, pixels per chunk) so that a chunk's pred_probs are ~2 MiB."""
    _, k, h, w = batch.pred_probs.shape
    p = h * w
    target = max(_MIN_CHUNK_PIXELS, _CHUNK_BYTES // (k * batch.pred_probs.itemsize))
    if p <= target:
        return max(1, target // p), p
    pieces = -(-p // target)
    return 1, -(-p // pieces)


def iter_chunks(
    batch: Batch,
    *,
    check_values: bool = True,
    ignore_index: int | None = None,
    trusted: bool = False,
) -> Iterator[Chunk]:
    """Cut a batch into cache-sized chunks, checking each one's values first (if asked).

    Args:
        batch: from :func:`iter_batches`.
        check_values: check each chunk (:func:`check_chunk`) before yielding it.
        ignore_index: only for the error messages.
        trusted: the values were checked before (an earlier pass): gathers skip bounds checks.

    Raises:
        ConfigError: with ``check_values``, see :func:`check_chunk`.
    """
    b_total, k, h, w = batch.pred_probs.shape
    p = h * w
    labels = batch.labels.reshape(b_total, p)
    probs = batch.pred_probs.reshape(b_total, k, p)
    valid = None if batch.valid is None else batch.valid.reshape(b_total, p)
    flat = probs.reshape(-1)
    images, pixels = _chunk_plan(batch)
    offsets: dict[tuple[int, int], np.ndarray] = {}
    class_offsets = np.arange(k, dtype=np.int64) * p
    for j0 in range(0, b_total, images):
        j1 = min(j0 + images, b_total)
        for lo in range(0, p, pixels):
            hi = min(lo + pixels, p)
            shape = (j1 - j0, hi - lo)
            if shape not in offsets:
                offsets[shape] = (
                    np.arange(shape[0], dtype=np.int64)[:, None] * (k * p)
                    + np.arange(shape[1], dtype=np.int64)[None, :]
                )
            chunk = Chunk(
                start=batch.start + j0,
                lo=lo,
                labels=labels[j0:j1, lo:hi],
                pred_probs=probs[j0:j1, :, lo:hi],
                valid=None if valid is None else valid[j0:j1, lo:hi],
                width=w,
                flat=flat[j0 * k * p + lo :],
                offsets=offsets[shape],
                labels_checked=check_values or trusted,
                class_offsets=class_offsets,
                tolerance=batch.tolerance,
            )
            if check_values:
                check_chunk(chunk, ignore_index)
            yield chunk


@functools.cache
def _sum_bounds(dtype: np.dtype, tolerance: float) -> tuple[np.floating, np.floating]:
    scalar = np.dtype(dtype).type
    return scalar(1.0 - tolerance), scalar(1.0 + tolerance)


def check_chunk(chunk: Chunk, ignore_index: int | None = None) -> None:
    """Check a chunk's values: three cheap reductions on the happy path.

    The offending position is located only on failure. Pixels labelled ``ignore_index``
    (``chunk.valid`` False) are exempt from every value check: they may hold anything, NaN too.

    Raises:
        ConfigError: a label outside ``[0, K)`` (other than ``ignore_index``), probabilities
            that are NaN or negative, or whose sum over K lies outside ``1 ± chunk.tolerance``
            (1e-3; 4e-3 for torch bfloat16; the sum is taken in float32, or float64 for float64
            input: float16 probabilities, each rounded by up to 4.9e-4 of itself, stay within the
            tolerance only if their sum is not rounded to float16 as well).
    """
    labels, probs, valid = chunk.labels, chunk.pred_probs, chunk.valid
    k = probs.shape[1]
    if labels.view(np.uint64).max() >= k:  # negative labels wrap to huge values
        bad = labels.view(np.uint64) >= k
        _raise_at(chunk, bad, "label", k=k, ignore_index=ignore_index)
    lowest = probs.min()  # NaN propagates through min
    if not lowest >= 0:  # only here: find the offending pixels, ignored ones exempt
        nan = np.isnan(probs).any(axis=1)
        negative = (probs < 0).any(axis=1)
        if valid is not None:
            nan &= valid
            negative &= valid
        if nan.any():
            _raise_at(chunk, nan, "NaN")
        if negative.any():
            _raise_at(chunk, negative, "negative")
    sums = np.add.reduce(probs, axis=1, dtype=np.promote_types(probs.dtype, np.float32))
    low, high = _sum_bounds(sums.dtype, chunk.tolerance)
    checked = sums if valid is None else sums[valid]
    if checked.size and not (checked.min() >= low and checked.max() <= high):
        off = ~((sums >= low) & (sums <= high))
        if valid is not None:
            off &= valid
        _raise_at(chunk, off, "sum", sums=sums)


def _raise_at(chunk: Chunk, bad: np.ndarray, kind: str, **info: Any) -> None:
    j, q = (int(v) for v in np.argwhere(bad)[0])
    image = chunk.start + j
    row, col = divmod(chunk.lo + q, chunk.width)
    if kind == "label":
        k, ignore_index = info["k"], info["ignore_index"]
        value = int(chunk.labels[j, q])
        hint = "" if ignore_index is None else f" (ignore_index={ignore_index})"
        raise ConfigError(
            f"labels hold {value} at image {image}, pixel ({row}, {col}): outside 0..{k - 1} "
            f"for K={k} classes{hint}; pass ignore_index= for void pixels, or fix the class ids."
        )
    if kind == "NaN":
        raise ConfigError(
            f"pred_probs hold NaN at image {image}, pixel ({row}, {col}) (the first); check the "
            "model output."
        )
    if kind == "negative":
        raise ConfigError(
            f"pred_probs hold a negative value at image {image}, pixel ({row}, {col}) (the "
            "first); pass probabilities (softmax over K), not logits."
        )
    total = float(info["sums"][j, q])
    raise ConfigError(
        f"pred_probs do not sum to 1 over K at image {image}, pixel ({row}, {col}): sum "
        f"{total:.6g} (tolerance {chunk.tolerance:g}); apply softmax over the class axis 1 "
        "(pred_probs is (N, K, H, W))."
    )


def check_n_jobs(n_jobs: int) -> int:
    """``n_jobs`` as a positive thread count.

    Raises:
        ConfigError: ``n_jobs`` < 1.
    """
    if not isinstance(n_jobs, int) or n_jobs < 1:
        raise ConfigError(
            f"n_jobs={n_jobs!r} must be a positive number of threads (1: no threads)."
        )
    return n_jobs


def map_chunks(fn: Callable[[Chunk], _R], chunks: Iterable[Chunk], n_jobs: int = 1) -> Iterator[_R]:
    """``fn(chunk)`` for every chunk, yielded in chunk order.

    With ``n_jobs`` > 1, on that many threads (numpy releases the GIL inside its loops). A
    worker takes :data:`CHUNKS_PER_TASK` consecutive chunks at a time, and at most 2·n_jobs such
    tasks are in flight, so memory stays bounded. Results come back in order, so a caller that
    combines them in order gets bit-identical results for any ``n_jobs``, and the first failing
    chunk's error is the one raised.
    """
    if check_n_jobs(n_jobs) == 1:
        yield from map(fn, chunks)
        return

    def run(group: list[Chunk]) -> list[_R]:
        return [fn(chunk) for chunk in group]

    remaining = iter(chunks)
    groups = iter(lambda: list(itertools.islice(remaining, CHUNKS_PER_TASK)), [])
    with ThreadPoolExecutor(n_jobs, thread_name_prefix="seglabels") as pool:
        pending: deque[Future[list[_R]]] = deque()
        try:
            for group in groups:
                pending.append(pool.submit(run, group))
                if len(pending) >= 2 * n_jobs:
                    yield from pending.popleft().result()
            while pending:
                yield from pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
