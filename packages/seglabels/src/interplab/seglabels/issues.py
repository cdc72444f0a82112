"""Confident-Learning pixel issue masks (cleanlab's ``segmentation.filter.find_label_issues``).

Legend: N images, K classes, H×W pixels, P = H·W. The method, as in cleanlab 2.9.0:

1. per-class thresholds ``t_k`` = mean probability of class k over pixels labelled k (≥ 2e-6);
2. ``num_issues`` = #{pixels whose predicted class ĉ = argmax ≠ label and p_ĉ ≥ t_ĉ − 1e-6};
3. flag the ``num_issues`` pixels with the lowest self-confidence over the whole dataset;
4. unflag those whose predicted class equals their label.

How it is computed (cleanlab keeps every pixel's score in a Python list, argsorts them all and
runs a second pass for the count). Only pixels that *disagree* with their label (argmax ≠ label)
can end up flagged, and they are few for any useful model. One pass over the data, chunk by
chunk while the chunk is in cache, checks the values and accumulates the thresholds and the
disagreeing pixels (index, score, predicted class and its probability), plus the lowest top
probability of any pixel, m. Then the count (step 2) needs no second pass, and when at least
num_issues kept pixels score below m (every pixel scoring below m disagrees, so all of them are
kept), the cutoff comes from the kept pixels alone. Otherwise a pass that only gathers scores
builds a histogram (by the top 14 bits of the scores' float32 patterns, which order like the
values) to locate the cutoff's bucket, and a last pass collects that bucket; more passes (a radix
select on the lower bits) run only when the bucket holds more pixels than one batch's memory.
Exact ties between the label's probability and an earlier class's (where argmax picks the
earlier class) need a pass only if such a pixel could be counted or flagged. When the
disagreeing pixels do not fit in one batch's memory, they are recomputed per pass instead.
Memory stays bounded by about one batch plus the output mask.

Differences from cleanlab, all deliberate: ties at the cutoff go to the earliest pixels in
(image, row, column) order (cleanlab's unstable argsort leaves them implementation-defined, so
masks are identical whenever the cutoff is not tied); the thresholds are float64 means over
the whole dataset (cleanlab averages float32 per-batch means: the two can differ by ~1e-7, so a
pixel whose predicted probability lies that close to t − 1e-6 may be counted differently);
``downsample`` pools labels by majority vote and probabilities by their mean (cleanlab
averages the class ids, bug B1); ``ignore_index`` pixels take no part in thresholds, counts or
selection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from interplab.core.errors import ConfigError
from interplab.seglabels.inputs import (
    Batch,
    Chunk,
    check_chunk,
    check_inputs,
    check_n_jobs,
    default_batch_size,
    iter_batches,
    iter_chunks,
    map_chunks,
    prob_dtype,
    prob_tolerance,
    to_numpy,
)

__all__ = ["confident_thresholds", "find_label_issues", "num_pixel_issues_scores"]

_R = TypeVar("_R")

THRESHOLD_FLOOR = 2e-6
"""cleanlab's CONFIDENT_THRESHOLDS_LOWER_BOUND."""
FLOAT_MARGIN = 1e-6
"""cleanlab's FLOATING_POINT_COMPARISON."""
_KEY_SHIFT = 18
"""A score's histogram key: its float32 bit pattern >> 18 (sign, exponent, 5 mantissa bits)."""
_KEY_BITS = 32 - _KEY_SHIFT
_IGNORED = np.uint32(0xFFFFFFFF)
"""Bit pattern given to ignored pixels: its key (the last one) is dropped from every histogram."""
_DIGIT_BITS = 9
"""Bits resolved per radix pass below the histogram key."""
_SPREAD = 8
"""Per-class sums go to 8 interleaved bins, so runs of one label do not serialize bincount."""
_STORED_BYTES = 24
"""Bytes kept per stored disagreeing pixel or cutoff candidate."""


@dataclass(frozen=True)
class _Disagreeing:
    """Pixels whose predicted class (first argmax, as ``np.argmax``) is not their label."""

    index: np.ndarray
    """int64 (m,) dataset-wide pixel index image·P + pixel, increasing."""
    score: np.ndarray
    """(m,) self-confidence p(label), the input's dtype."""
    top: np.ndarray
    """(m,) probability of the predicted class."""
    predicted: np.ndarray
    """int (m,) predicted class."""


@dataclass
class _Source:
    """The inputs, read batch by batch at the (pooled) resolution the selection works at."""

    labels: Any
    pred_probs: Any
    ignore_index: int | None
    batch_size: int
    downsample: int
    progress: bool
    shape: tuple[int, int, int, int]
    """(N, K, H, W) at full resolution."""
    n_jobs: int = 1
    check_values: bool = True
    """Check the values in the first pass (else every pass gathers with bounds checks)."""

    @property
    def tie_bound(self) -> float:
        """Above this, a pixel's largest probability cannot be tied (see :func:`_tie_bound`)."""
        return _tie_bound(
            self.shape[1], prob_dtype(self.pred_probs), prob_tolerance(self.pred_probs)
        )

    @property
    def pixels(self) -> int:
        """P at the working resolution."""
        return (self.shape[2] // self.downsample) * (self.shape[3] // self.downsample)

    @property
    def budget(self) -> int:
        """How many pixels may be kept across passes: about one batch of pred_probs in bytes."""
        _, k, h, w = self.shape
        itemsize = prob_dtype(self.pred_probs).itemsize
        return max(1024, self.batch_size * k * h * w * itemsize // _STORED_BYTES)

    def batches(self, description: str, *, check: bool = False) -> Iterator[tuple[Batch, Batch]]:
        """(full-resolution batch, batch pooled by ``downsample``), values checked if asked."""
        check = check and self.check_values
        for full in iter_batches(
            self.labels, self.pred_probs, batch_size=self.batch_size,
            ignore_index=self.ignore_index, check_values=check and self.downsample > 1,
            progress=self.progress, description=description,
        ):  # fmt: skip
            yield full, (full if self.downsample == 1 else pool_batch(full, self.downsample))

    def chunks(self, description: str, *, check: bool = False) -> Iterator[Chunk]:
        """Cache-sized chunks of the pooled batches."""
        for _, batch in self.batches(description, check=check):
            yield from iter_chunks(
                batch, check_values=check and self.check_values and self.downsample == 1,
                ignore_index=self.ignore_index, trusted=self.check_values,
            )  # fmt: skip

    def map(
        self, fn: Callable[[Chunk], _R], description: str, *, check: bool = False
    ) -> Iterator[_R]:
        """``fn(chunk)`` over all chunks in order, on ``n_jobs`` threads.

        With ``check``, each chunk's values are checked first, in the worker, while the chunk is
        in its cache.
        """
        if not (check and self.check_values) or self.downsample > 1:  # pooled: checked at full
            return map_chunks(fn, self.chunks(description, check=check), self.n_jobs)

        def checked(chunk: Chunk) -> _R:
            check_chunk(chunk, self.ignore_index)
            return fn(chunk)

        return map_chunks(checked, self.chunks(description), self.n_jobs)


def pool_batch(batch: Batch, factor: int) -> Batch:
    """Pool f×f blocks: labels by majority vote (ties: lowest class id), probabilities by mean.

    Both count only the block's labelled pixels; a block whose pixels are all ignored is ignored
    (its probabilities are uniform).
    """
    b, k, h, w = batch.pred_probs.shape
    hh, ww = h // factor, w // factor
    blocked = batch.pred_probs.reshape(b, k, hh, factor, ww, factor)
    if batch.valid is None:
        probs = blocked.mean(axis=(3, 5))
    else:  # ignored pixels may hold anything (NaN too): leave them out, not multiply by 0
        weights = batch.valid.reshape(b, 1, hh, factor, ww, factor)
        labelled = weights.sum(axis=(3, 5))
        total = np.where(weights, blocked, 0).sum(axis=(3, 5))
        probs = np.where(labelled > 0, total / np.maximum(labelled, 1), 1.0 / k)
    probs = probs / probs.sum(axis=1, keepdims=True)
    blocks = batch.labels.reshape(b, hh, factor, ww, factor).transpose(0, 1, 3, 2, 4)
    blocks = blocks.reshape(-1, factor * factor)
    valid = (
        np.ones_like(blocks, dtype=bool)
        if batch.valid is None
        else batch.valid.reshape(b, hh, factor, ww, factor)
        .transpose(0, 1, 3, 2, 4)
        .reshape(-1, factor * factor)
    )
    rows = np.repeat(np.arange(len(blocks)), factor * factor)
    counts = np.bincount(
        rows * k + blocks.ravel(), weights=valid.ravel(), minlength=len(blocks) * k
    ).reshape(len(blocks), k)
    pooled_labels = counts.argmax(axis=1).reshape(b, hh, ww)
    pooled_valid = None if batch.valid is None else counts.sum(axis=1).reshape(b, hh, ww) > 0
    pooled_probs = np.ascontiguousarray(probs.astype(batch.pred_probs.dtype))
    return Batch(
        batch.start, batch.stop, pooled_labels, pooled_probs, pooled_valid, batch.tolerance
    )


def _score_bits(scores: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """uint32 bit patterns of the scores as float32 (ordered like the values; -0.0 made +0.0)."""
    as32 = scores.astype(np.float32) if scores.dtype != np.float32 else scores
    bits = (as32 + np.float32(0.0)).view(np.uint32)
    return bits if valid is None else np.where(valid, bits, _IGNORED)


def _tie_bound(k: int, dtype: np.dtype, tolerance: float) -> float:
    """Above this, a pixel's largest probability cannot be tied: two equal maxima sum to ≤ ~1."""
    return 0.5 * (1.0 + tolerance) * (1.0 + 2 * k * float(np.finfo(dtype).eps))


def _disagreeing_in(
    chunk: Chunk, scores: np.ndarray, tie_bound: float, *, ties: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixels of the chunk whose predicted class (first argmax) is not their label.

    Returns ``(pixels, predicted class, its probability, top, tied)``: ``pixels`` are flat
    indices into the chunk's (b, c); ``top`` (b, c) is every pixel's largest probability;
    ``tied`` (bool (b, c)) marks where p(label) = top ≤ ``tie_bound``, so that an earlier class
    may tie with it and be the argmax. With ``ties`` those are resolved (np.argmax on them) and
    included when they disagree; without, they are left out for the caller. Everywhere else
    argmax ≠ label is simply p(label) < top.
    """
    top = chunk.pred_probs.max(axis=1)
    disagree = scores < top
    tied = scores == top
    tied &= top <= tie_bound
    if chunk.valid is not None:
        disagree &= chunk.valid
        tied &= chunk.valid
    if ties:
        maybe = np.flatnonzero(tied)
        if len(maybe):
            disagree.flat[maybe] = chunk.first_argmax(maybe) != chunk.labels.flat[maybe]
    pixels = np.flatnonzero(disagree)
    return pixels, chunk.first_argmax(pixels), top.flat[pixels], top, tied


def _resolve_ties(chunk: Chunk, tie_bound: float) -> tuple[np.ndarray, ...]:
    """(pixel index, score, top, predicted) of tied pixels whose first argmax is not the label."""
    scores = chunk.self_confidence()
    top = chunk.pred_probs.max(axis=1)
    tied = scores == top
    tied &= top <= tie_bound
    if chunk.valid is not None:
        tied &= chunk.valid
    maybe = np.flatnonzero(tied)
    predicted = chunk.first_argmax(maybe)
    other = predicted != chunk.labels.flat[maybe]
    pixels = maybe[other]
    return (chunk.pixel_index(pixels), scores.flat[pixels], top.flat[pixels],
            predicted[other].astype(np.int32))  # fmt: skip


@dataclass(frozen=True)
class _Scan:
    thresholds: np.ndarray
    """float64 (K,)."""
    disagreeing: _Disagreeing | None
    """Pixels with p(label) < top; ``None`` if more than the memory budget allows."""
    floor: float
    """Lowest top probability of any counted pixel: every pixel scoring below it disagrees."""
    tied: bool
    """Whether some pixel has p(label) = top ≤ the tie bound (left out of ``disagreeing``)."""


def _scan(source: _Source, *, keep_disagreeing: bool = True) -> _Scan:
    """The one full pass: check values, thresholds, disagreeing pixels."""
    k, tie_bound = source.shape[1], source.tie_bound
    spreads: dict[tuple[int, ...], np.ndarray] = {}

    def scan_chunk(chunk: Chunk) -> tuple[Any, ...]:
        scores = chunk.self_confidence()
        spread = spreads.get(chunk.labels.shape)
        if spread is None:
            spread = spreads[chunk.labels.shape] = chunk.offsets & (_SPREAD - 1)
        keys = chunk.labels * _SPREAD
        keys += spread
        if chunk.valid is not None:
            keys[~chunk.valid] = k * _SPREAD  # a dropped class
        counts = np.bincount(keys.ravel(), minlength=(k + 1) * _SPREAD)
        sums = np.bincount(keys.ravel(), weights=scores.ravel(), minlength=(k + 1) * _SPREAD)
        if not keep_disagreeing:
            return counts, sums, None, np.inf, False
        pixels, predicted, top, all_top, tied = _disagreeing_in(
            chunk, scores, tie_bound, ties=False
        )
        valid = chunk.valid
        lowest = all_top.min() if valid is None else np.where(valid, all_top, np.inf).min()
        found = (chunk.pixel_index(pixels), scores.flat[pixels], top, predicted.astype(np.int32))
        return counts, sums, found, float(lowest), bool(tied.any())

    counts = np.zeros((k + 1) * _SPREAD, dtype=np.int64)
    sums = np.zeros((k + 1) * _SPREAD)
    kept: list[tuple[np.ndarray, ...]] | None = [] if keep_disagreeing else None
    n_kept, budget, floor, tied_any = 0, source.budget, np.inf, False
    for chunk_counts, chunk_sums, found, lowest, tied in source.map(
        scan_chunk, "scanning pred_probs", check=True
    ):
        counts += chunk_counts
        sums += chunk_sums  # in chunk order: the same sums for any n_jobs
        floor, tied_any = min(floor, lowest), tied_any or tied
        if kept is not None and found is not None:
            n_kept += len(found[0])
            if n_kept > budget:
                kept = None
            elif len(found[0]):
                kept.append(found)
    class_sums = sums.reshape(k + 1, _SPREAD)[:k].sum(axis=1)
    class_counts = counts.reshape(k + 1, _SPREAD)[:k].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(class_counts > 0, class_sums / np.maximum(class_counts, 1), 0.0)
    thresholds = np.clip(means, THRESHOLD_FLOOR, None)
    disagreeing = None
    if kept is not None:
        dtype = prob_dtype(source.pred_probs)
        empty = (
            np.empty(0, np.int64),
            np.empty(0, dtype),
            np.empty(0, dtype),
            np.empty(0, np.int32),
        )
        disagreeing = _Disagreeing(
            *(np.concatenate([part[field] for part in kept] + [empty[field]]) for field in range(4))
        )
    return _Scan(thresholds, disagreeing, floor, tied_any)


def _add_resolved_ties(
    source: _Source, known: _Disagreeing, tie_bound: float
) -> _Disagreeing | None:
    """``known`` plus the tied pixels whose first argmax is an earlier class (one pass)."""
    found = list(source.map(lambda chunk: _resolve_ties(chunk, tie_bound), "resolving ties"))
    merged = [np.concatenate([getattr(known, name)] + [part[i] for part in found])
              for i, name in enumerate(("index", "score", "top", "predicted"))]  # fmt: skip
    if len(merged[0]) > source.budget:
        return None
    order = np.argsort(merged[0], kind="stable")
    return _Disagreeing(*(field[order] for field in merged))


def _count_issues(source: _Source, margin_thresholds: np.ndarray) -> int:
    """Step 2 by a streaming pass (when the disagreeing pixels were too many to keep)."""
    tie_bound = source.tie_bound

    def count(chunk: Chunk) -> int:
        _, predicted, top, _, _ = _disagreeing_in(chunk, chunk.self_confidence(), tie_bound)
        return int(np.count_nonzero(top >= margin_thresholds[predicted]))

    return sum(source.map(count, "counting label issues"))


def _pick(scores: np.ndarray, indices: np.ndarray, rank: int) -> tuple[Any, int]:
    """The rank-th (1-based) smallest (score, index) pair."""
    order = np.lexsort((indices, scores))
    chosen = order[rank - 1]
    return scores[chosen], int(indices[chosen])


def _histogram(source: _Source) -> np.ndarray:
    """int64 (2**14,): counted pixels per score key (one pass that only gathers scores)."""

    def count(chunk: Chunk) -> np.ndarray:
        bits = _score_bits(chunk.self_confidence(), chunk.valid)
        return np.bincount((bits >> _KEY_SHIFT).ravel(), minlength=2**_KEY_BITS)

    histogram = np.zeros(2**_KEY_BITS, dtype=np.int64)
    for part in source.map(count, "locating the cutoff"):
        histogram += part
    histogram[-1] = 0  # ignored pixels
    return histogram


def _kth_smallest(
    source: _Source, rank: int, known: _Disagreeing | None, floor: float
) -> tuple[Any, int]:
    """The rank-th smallest (score, pixel index) pair over all counted pixels.

    Ties in score are ordered by pixel index. Every pixel scoring below ``floor`` disagrees, so
    it was kept in ``known``: when enough kept pixels lie below it, no pass is needed. Else a
    histogram pass locates the bucket, and a pass collects its pixels (after radix passes that
    narrow it, if it holds more than the memory budget).
    """
    if known is not None:
        below = known.score < floor
        if np.count_nonzero(below) >= rank:
            return _pick(known.score[below], known.index[below], rank)
    histogram = _histogram(source)
    cumulative = np.cumsum(histogram)
    bucket = int(np.searchsorted(cumulative, rank))
    rank -= int(cumulative[bucket - 1]) if bucket else 0
    count = int(histogram[bucket])
    if known is not None:
        inside = (_score_bits(known.score, None) >> _KEY_SHIFT) == bucket
        if np.count_nonzero(inside) == count:  # the bucket holds only kept pixels
            return _pick(known.score[inside], known.index[inside], rank)
    prefix, fixed = bucket, _KEY_BITS
    budget = source.budget
    while count > budget and fixed < 32:  # radix select on the next bits, bounded memory
        digits = min(_DIGIT_BITS, 32 - fixed)
        sub = np.zeros(2**digits, dtype=np.int64)
        for chunk in source.chunks("narrowing the cutoff"):
            bits = _score_bits(chunk.self_confidence(), chunk.valid).ravel()
            bits = bits[(bits >> (32 - fixed)) == prefix]
            lower = (bits >> (32 - fixed - digits)) & (2**digits - 1)
            sub += np.bincount(lower.astype(np.intp), minlength=len(sub))
        cumulative = np.cumsum(sub)
        digit = int(np.searchsorted(cumulative, rank))
        rank -= int(cumulative[digit - 1]) if digit else 0
        count = int(sub[digit])
        prefix, fixed = (prefix << digits) | digit, fixed + digits
    # All pixels whose float32 score starts with `prefix`. If too many to keep and the input is
    # at most 32-bit, they all share one value: the rank-th of them in pixel order decides.
    same_value = count > budget and prob_dtype(source.pred_probs).itemsize <= 4
    scores, indices = [], []
    for chunk in source.chunks("selecting the least confident pixels"):
        chunk_scores = chunk.self_confidence()
        bits = _score_bits(chunk_scores, chunk.valid).ravel()
        match = np.flatnonzero((bits >> (32 - fixed)) == prefix)
        if same_value:
            if rank <= len(match):
                pixel = match[rank - 1 : rank]
                return chunk_scores.flat[pixel][0], int(chunk.pixel_index(pixel)[0])
            rank -= len(match)
        else:
            scores.append(chunk_scores.flat[match])
            indices.append(chunk.pixel_index(match))
    return _pick(np.concatenate(scores), np.concatenate(indices), rank)


def _at_or_below(scores: np.ndarray, indices: np.ndarray, cutoff: tuple[Any, int]) -> np.ndarray:
    """bool: (score, index) ≤ the cutoff pair."""
    value, index = cutoff
    return (scores < value) | ((scores == value) & (indices <= index))


def _unflag_agreeing(mask: np.ndarray, full: Batch, factor: int) -> np.ndarray:
    """Upsample a pooled (b, H/f, W/f) mask; unflag full-resolution pixels with argmax == label."""
    mask = mask.repeat(factor, axis=1).repeat(factor, axis=2)
    flagged = np.flatnonzero(mask)
    if len(flagged):
        _, k, h, w = full.pred_probs.shape
        image, pixel = np.divmod(flagged, h * w)
        at = (image * (k * h * w) + pixel)[:, None] + np.arange(k) * (h * w)
        agree = np.take(full.pred_probs.reshape(-1), at).argmax(axis=1) == full.labels.flat[flagged]
        if full.valid is not None:
            agree |= ~full.valid.flat[flagged]
        mask.flat[flagged[agree]] = False
    return mask


def _check(labels: Any, pred_probs: Any, downsample: int) -> tuple[int, int, int, int]:
    n, k, h, w = check_inputs(labels, pred_probs)
    if downsample < 1 or h % downsample or w % downsample:
        raise ConfigError(
            f"downsample={downsample} must be a positive divisor of H={h} and W={w}; "
            "use 1 for no downsampling."
        )
    return n, k, h, w


def _source(
    labels: Any, pred_probs: Any, *, ignore_index: int | None, batch_size: int | None,
    downsample: int, progress: bool, n_jobs: int = 1, check_values: bool = True,
) -> _Source:  # fmt: skip
    shape = _check(labels, pred_probs, downsample)
    if batch_size is None:
        batch_size = default_batch_size(*shape[1:], prob_dtype(pred_probs).itemsize)
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size} must be at least 1.")
    return _Source(labels, pred_probs, ignore_index, batch_size, downsample, progress, shape,
                   check_n_jobs(n_jobs), check_values)  # fmt: skip


def confident_thresholds(
    labels: Any, pred_probs: Any, *, ignore_index: int | None = None,
    batch_size: int | None = None, downsample: int = 1,
) -> np.ndarray:  # fmt: skip
    """float64 (K,): mean predicted probability of class k over pixels labelled k (≥ 2e-6)."""
    source = _source(labels, pred_probs, ignore_index=ignore_index, batch_size=batch_size,
                     downsample=downsample, progress=False)  # fmt: skip
    return _scan(source, keep_disagreeing=False).thresholds


def _select(source: _Source) -> tuple[tuple[Any, int] | None, _Disagreeing | None]:
    """Steps 1–3: the cutoff pair (score, pixel index), or None if nothing is flagged.

    Also returns the disagreeing pixels if they fit in memory (tied ones resolved where they
    can matter), else None.
    """
    scan = _scan(source)
    margin_thresholds = scan.thresholds - FLOAT_MARGIN
    known = scan.disagreeing
    tie_bound = source.tie_bound
    # Tied pixels (p(label) = top ≤ tie_bound) were left out of `known`. They matter only if
    # one could be confident (a threshold ≤ tie_bound) or fall under the cutoff (their score is
    # a top probability, ≥ scan.floor); then one pass resolves them all.
    ties_matter = scan.tied and bool(margin_thresholds.min() <= tie_bound)
    if known is not None and ties_matter:
        known = _add_resolved_ties(source, known, tie_bound)
    if known is not None:
        num_issues = int(np.count_nonzero(known.top >= margin_thresholds[known.predicted]))
    else:
        num_issues = _count_issues(source, margin_thresholds)
    if num_issues == 0:
        return None, known
    cutoff = _kth_smallest(source, num_issues, known, scan.floor)
    if known is not None and scan.tied and not ties_matter and cutoff[0] >= scan.floor:
        known = _add_resolved_ties(source, known, tie_bound)
    return cutoff, known


def _masks_of_flagged(
    source: _Source, flagged: np.ndarray
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Per batch, the mask of the (sorted) flagged pixel indices; upsampled if pooled."""
    n, _, h, w = source.shape
    f, p = source.downsample, source.pixels
    for start in range(0, n, source.batch_size):
        stop = min(start + source.batch_size, n)
        lo, hi = np.searchsorted(flagged, [start * p, stop * p])
        mask = np.zeros((stop - start, h // f, w // f), dtype=bool)
        mask.reshape(-1)[flagged[lo:hi] - start * p] = True
        if f > 1 and hi > lo:
            full = next(iter_batches(
                source.labels[start:stop], source.pred_probs[start:stop], batch_size=stop - start,
                ignore_index=source.ignore_index, check_values=False,
            ))  # fmt: skip
            mask = _unflag_agreeing(mask, full, f)
        elif f > 1:
            mask = mask.repeat(f, axis=1).repeat(f, axis=2)
        yield start, stop, mask


def _masks_by_pass(
    source: _Source, cutoff: tuple[Any, int]
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Per batch, the mask by recomputing the disagreeing pixels (when they were not kept)."""
    tie_bound = source.tie_bound
    p = source.pixels
    for full, pooled in source.batches("writing the issue mask"):
        mask = np.zeros(pooled.labels.shape, dtype=bool)
        for chunk in iter_chunks(pooled, check_values=False, trusted=source.check_values):
            scores = chunk.self_confidence()
            pixels, _, _, _, _ = _disagreeing_in(chunk, scores, tie_bound)
            index = chunk.pixel_index(pixels)
            index = index[_at_or_below(scores.flat[pixels], index, cutoff)]
            mask.reshape(-1)[index - full.start * p] = True
        f = source.downsample
        yield full.start, full.stop, (mask if f == 1 else _unflag_agreeing(mask, full, f))


def _iter_issue_masks(
    labels: Any, pred_probs: Any, *, ignore_index: int | None, batch_size: int | None,
    downsample: int, progress: bool, n_jobs: int, check_values: bool,
) -> Iterator[tuple[int, int, np.ndarray]]:  # fmt: skip
    """Yield ``(start, stop, mask (B, H, W) bool)`` batch by batch, after the selection."""
    source = _source(labels, pred_probs, ignore_index=ignore_index, batch_size=batch_size,
                     downsample=downsample, progress=progress, n_jobs=n_jobs,
                     check_values=check_values)  # fmt: skip
    cutoff, known = _select(source)
    if cutoff is None:
        yield from _masks_of_flagged(source, np.empty(0, np.int64))
    elif known is not None:  # step 4 on the kept pixels: no pass needed
        flagged = known.index[_at_or_below(known.score, known.index, cutoff)]
        yield from _masks_of_flagged(source, flagged)
    else:
        yield from _masks_by_pass(source, cutoff)


def find_label_issues(
    labels: Any,
    pred_probs: Any,
    *,
    ignore_index: int | None = None,
    batch_size: int | None = None,
    downsample: int = 1,
    progress: bool = False,
    n_jobs: int = 1,
    check_values: bool = True,
) -> np.ndarray:
    """Pixels whose label is likely wrong, by Confident Learning.

    Args:
        labels: int (N, H, W) in [0, K) or ``ignore_index``.
        pred_probs: float (N, K, H, W), sums to 1 over K (numpy, torch or memmap).
        ignore_index: label value of pixels to leave out (never flagged).
        batch_size: images per batch; memory is bounded by about one batch (plus the output).
        downsample: pool f×f blocks before the selection (majority label, mean probability);
            H and W must be divisible by it.
        progress: show progress bars for the passes over the data.
        n_jobs: threads (numpy releases the GIL); the mask does not depend on it.
        check_values: check label range and probabilities (NaN, negative, sum over K). Only
            pass False for inputs known to be valid: invalid ones then give a wrong mask
            instead of an error.

    Returns:
        bool (N, H, W); True marks a likely label error. Equals cleanlab 2.9.0's
        ``segmentation.filter.find_label_issues`` when no scores tie at the cutoff and
        ``downsample=1``.
    """
    n, _, h, w = check_inputs(labels, pred_probs)
    out = np.zeros((n, h, w), dtype=bool)
    for start, stop, mask in _iter_issue_masks(
        labels, pred_probs, ignore_index=ignore_index, batch_size=batch_size,
        downsample=downsample, progress=progress, n_jobs=n_jobs, check_values=check_values,
    ):  # fmt: skip
        out[start:stop] = mask
    return out


def num_pixel_issues_scores(
    labels: Any,
    pred_probs: Any,
    *,
    ignore_index: int | None = None,
    batch_size: int | None = None,
    downsample: int = 1,
    progress: bool = False,
    n_jobs: int = 1,
    check_values: bool = True,
) -> np.ndarray:
    """float64 (N,): 1 − the fraction of each image's pixels flagged by find_label_issues.

    cleanlab's ``num_pixel_issues`` image score; ignored pixels count in neither part.
    """
    n, _, _, _ = check_inputs(labels, pred_probs)
    out = np.empty(n, dtype=np.float64)
    for start, stop, mask in _iter_issue_masks(
        labels, pred_probs, ignore_index=ignore_index, batch_size=batch_size,
        downsample=downsample, progress=progress, n_jobs=n_jobs, check_values=check_values,
    ):  # fmt: skip
        b = stop - start
        if ignore_index is None:
            out[start:stop] = 1.0 - mask.reshape(b, -1).mean(axis=1)
        else:
            valid = to_numpy(labels[start:stop]).reshape(b, -1) != ignore_index
            count = valid.sum(axis=1)
            flagged = (mask.reshape(b, -1) & valid).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[start:stop] = np.where(count > 0, 1.0 - flagged / count, np.nan)
    return out
