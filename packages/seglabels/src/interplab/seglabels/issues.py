"""Confident-Learning pixel issue masks (cleanlab's ``segmentation.filter.find_label_issues``).

Legend: N images, K classes, H×W pixels. The method, as in cleanlab 2.9.0:

1. per-class thresholds ``t_k`` = mean probability of class k over pixels labelled k (≥ 2e-6);
2. ``num_issues`` = #{pixels whose predicted class ĉ = argmax ≠ label and p_ĉ ≥ t_ĉ − 1e-6};
3. flag the ``num_issues`` pixels with the lowest self-confidence over the whole dataset;
4. unflag those whose predicted class equals their label.

Differences from cleanlab, all deliberate: the selection in step 3 is an exact radix select
over the bit patterns of the scores, streamed over batches (cleanlab keeps every pixel's score
in a Python list and argsorts them all); ties at the cutoff go to the earliest pixels in
(image, row, column) order (cleanlab's unstable argsort leaves them implementation-defined, so
masks are identical whenever the cutoff is not tied); ``downsample`` pools labels by majority
vote and probabilities by their mean (cleanlab averages the class ids, bug B1); ``ignore_index``
pixels take no part in thresholds, counts or selection.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from interplab.core.errors import ConfigError
from interplab.seglabels.inputs import Batch, check_inputs, iter_batches

__all__ = ["confident_thresholds", "find_label_issues", "num_pixel_issues_scores"]

THRESHOLD_FLOOR = 2e-6
"""cleanlab's CONFIDENT_THRESHOLDS_LOWER_BOUND."""
FLOAT_MARGIN = 1e-6
"""cleanlab's FLOATING_POINT_COMPARISON."""
_DIGIT_BITS = 16


def _batches(
    labels: Any, pred_probs: Any, *, ignore_index: int | None, batch_size: int | None,
    downsample: int, progress: bool, description: str,
) -> Iterator[tuple[Batch, Batch]]:  # fmt: skip
    """(full-resolution batch, batch pooled by ``downsample``)."""
    for batch in iter_batches(
        labels, pred_probs, batch_size=batch_size, ignore_index=ignore_index, progress=progress,
        description=description,
    ):  # fmt: skip
        yield batch, (batch if downsample == 1 else pool_batch(batch, downsample))


def pool_batch(batch: Batch, factor: int) -> Batch:
    """Pool f×f blocks: labels by majority vote (ties: lowest class id), probabilities by mean.

    A block whose pixels are all ignored is ignored.
    """
    b, k, h, w = batch.pred_probs.shape
    hh, ww = h // factor, w // factor
    probs = batch.pred_probs.reshape(b, k, hh, factor, ww, factor).mean(axis=(3, 5))
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
    return Batch(batch.start, batch.stop, pooled_labels, probs.astype(batch.pred_probs.dtype),
                 pooled_valid)  # fmt: skip


def _self_confidence(batch: Batch) -> np.ndarray:
    """(B, H, W) in the input's float dtype, -0.0 turned into +0.0 (for bit-pattern ordering)."""
    given = np.take_along_axis(batch.pred_probs, batch.labels[:, None], axis=1)[:, 0]
    return given + given.dtype.type(0.0)


def _valid(batch: Batch) -> np.ndarray:
    return np.ones(batch.labels.shape, dtype=bool) if batch.valid is None else batch.valid


def confident_thresholds(
    labels: Any, pred_probs: Any, *, ignore_index: int | None = None,
    batch_size: int | None = None, downsample: int = 1,
) -> np.ndarray:  # fmt: skip
    """float64 (K,): mean predicted probability of class k over pixels labelled k (≥ 2e-6)."""
    k = _check(labels, pred_probs, downsample)[1]
    sums, counts = np.zeros(k), np.zeros(k)
    for _, batch in _batches(labels, pred_probs, ignore_index=ignore_index, batch_size=batch_size,
                             downsample=downsample, progress=False, description=""):  # fmt: skip
        valid = _valid(batch)
        given = np.take_along_axis(batch.pred_probs, batch.labels[:, None], axis=1)[:, 0]
        sums += np.bincount(batch.labels[valid], weights=given[valid], minlength=k)
        counts += np.bincount(batch.labels[valid], minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    return np.clip(means, THRESHOLD_FLOOR, None)


def _check(labels: Any, pred_probs: Any, downsample: int) -> tuple[int, int, int, int]:
    n, k, h, w = check_inputs(labels, pred_probs)
    if downsample < 1 or h % downsample or w % downsample:
        raise ConfigError(
            f"downsample={downsample} must be a positive divisor of H={h} and W={w}; "
            "use 1 for no downsampling."
        )
    return n, k, h, w


def _iter_issue_masks(
    labels: Any, pred_probs: Any, *, ignore_index: int | None, batch_size: int | None,
    downsample: int, progress: bool,
) -> Iterator[tuple[int, int, np.ndarray]]:  # fmt: skip
    """Yield ``(start, stop, mask (B, H, W) bool)`` after the selection passes."""
    _check(labels, pred_probs, downsample)
    opts = {"ignore_index": ignore_index, "batch_size": batch_size, "downsample": downsample}
    thresholds = confident_thresholds(labels, pred_probs, **opts)
    margin_thresholds = thresholds - FLOAT_MARGIN

    def passes(description: str) -> Iterator[tuple[Batch, Batch]]:
        return _batches(labels, pred_probs, progress=progress, description=description, **opts)

    # Pass 2: count the issues, and histogram the top digit of every pixel's score.
    num_issues = 0
    itemsize = np.dtype(np.asarray(pred_probs[:1]).dtype if not hasattr(pred_probs, "detach")
                        else str(pred_probs.dtype).removeprefix("torch.")).itemsize  # fmt: skip
    uint = {2: np.uint16, 4: np.uint32, 8: np.uint64}[itemsize]
    n_bits = 8 * itemsize
    top_shift = n_bits - _DIGIT_BITS
    histogram = np.zeros(2**_DIGIT_BITS, dtype=np.int64)
    for _, batch in passes("counting label issues"):
        valid = _valid(batch)
        predicted = batch.pred_probs.argmax(axis=1)
        p_predicted = np.take_along_axis(batch.pred_probs, predicted[:, None], axis=1)[:, 0]
        confident = p_predicted >= margin_thresholds[predicted]
        num_issues += int(((predicted != batch.labels) & confident & valid).sum())
        bits = _self_confidence(batch).view(uint)[valid]
        histogram += np.bincount((bits >> top_shift).astype(np.int64), minlength=2**_DIGIT_BITS)

    # Passes 3…: radix select of the num_issues-th smallest score (exact, memory O(batch)).
    rank, prefix = num_issues, 0
    if num_issues:
        cumulative = np.cumsum(histogram)
        digit = int(np.searchsorted(cumulative, rank))
        rank -= int(cumulative[digit - 1]) if digit else 0
        prefix = digit
        for shift in range(top_shift - _DIGIT_BITS, -1, -_DIGIT_BITS):
            histogram[:] = 0
            for _, batch in passes("selecting the least confident pixels"):
                bits = _self_confidence(batch).view(uint)[_valid(batch)]
                bits = bits[(bits >> (shift + _DIGIT_BITS)) == prefix]
                digits = ((bits >> shift) & (2**_DIGIT_BITS - 1)).astype(np.int64)
                histogram += np.bincount(digits, minlength=2**_DIGIT_BITS)
            cumulative = np.cumsum(histogram)
            digit = int(np.searchsorted(cumulative, rank))
            rank -= int(cumulative[digit - 1]) if digit else 0
            prefix = (prefix << _DIGIT_BITS) | digit
    cutoff = np.array(prefix, dtype=uint)
    ties_left = rank  # how many pixels scoring exactly the cutoff are still to flag

    # Last pass: flag, break ties in pixel order, unflag predicted == label, upsample.
    for full, batch in passes("writing the issue mask"):
        mask = np.zeros(batch.labels.shape, dtype=bool)
        if num_issues:
            bits = _self_confidence(batch).view(uint)
            valid = _valid(batch)
            mask = (bits < cutoff) & valid
            tied = np.flatnonzero((bits == cutoff) & valid)
            take = tied[: max(ties_left, 0)]
            mask.flat[take] = True
            ties_left -= len(take)
        if downsample > 1:
            mask = mask.repeat(downsample, axis=1).repeat(downsample, axis=2)
        if mask.any():
            mask &= full.pred_probs.argmax(axis=1) != full.labels
            if full.valid is not None:
                mask &= full.valid
        yield full.start, full.stop, mask


def find_label_issues(
    labels: Any,
    pred_probs: Any,
    *,
    ignore_index: int | None = None,
    batch_size: int | None = None,
    downsample: int = 1,
    progress: bool = False,
) -> np.ndarray:
    """Pixels whose label is likely wrong, by Confident Learning.

    Args:
        labels: int (N, H, W) in [0, K) or ``ignore_index``.
        pred_probs: float (N, K, H, W), sums to 1 over K (numpy, torch or memmap).
        ignore_index: label value of pixels to leave out (never flagged).
        batch_size: images per batch; memory is bounded by one batch (plus the output).
        downsample: pool f×f blocks before the selection (majority label, mean probability);
            H and W must be divisible by it.
        progress: show progress bars for the passes over the data.

    Returns:
        bool (N, H, W); True marks a likely label error. Equals cleanlab 2.9.0's
        ``segmentation.filter.find_label_issues`` when no scores tie at the cutoff and
        ``downsample=1``.
    """
    n, _, h, w = check_inputs(labels, pred_probs)
    out = np.zeros((n, h, w), dtype=bool)
    for start, stop, mask in _iter_issue_masks(
        labels, pred_probs, ignore_index=ignore_index, batch_size=batch_size,
        downsample=downsample, progress=progress,
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
) -> np.ndarray:
    """float64 (N,): 1 − the fraction of each image's pixels flagged by find_label_issues.

    cleanlab's ``num_pixel_issues`` image score; ignored pixels count in neither part.
    """
    n, _, _, _ = check_inputs(labels, pred_probs)
    out = np.empty(n, dtype=np.float64)
    for start, stop, mask in _iter_issue_masks(
        labels, pred_probs, ignore_index=ignore_index, batch_size=batch_size,
        downsample=downsample, progress=progress,
    ):  # fmt: skip
        b = stop - start
        if ignore_index is None:
            out[start:stop] = 1.0 - mask.reshape(b, -1).mean(axis=1)
        else:
            valid = np.asarray(labels[start:stop]).reshape(b, -1) != ignore_index
            count = valid.sum(axis=1)
            flagged = (mask.reshape(b, -1) & valid).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[start:stop] = np.where(count > 0, 1.0 - flagged / count, np.nan)
    return out
