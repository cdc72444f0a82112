"""Pixel and image label-quality scores (Lad & Mueller 2023, arXiv 2307.05080).

Legend: N images, K classes, H×W pixels, P = H·W. Every score is "higher = label more likely
right"; rank images by ascending score to review the likely mislabeled first.

A pixel's score is the model's probability of its annotated class (``self_confidence``) or the
normalized margin ``(p_y − max_{k≠y} p_k + 1) / 2``. An image's score aggregates its pixel
scores; the methods are registered by name, so a new one is a small function::

    @register_image_score("trimmed_mean")
    def trimmed_mean(pixel_scores, valid, labels, *, cut=0.1):
        ...  # float64 (B, P), bool (B, P), int64 (B, P) -> float64 (B,)
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable
from typing import Any, Literal, Protocol

import numpy as np

from interplab.core.errors import ConfigError, ShapeError
from interplab.seglabels.inputs import (
    Batch,
    Chunk,
    check_chunk,
    check_inputs,
    iter_batches,
    iter_chunks,
    map_chunks,
)

__all__ = [
    "IMAGE_SCORE_METHODS",
    "PixelScoreKind",
    "check_method",
    "image_scores",
    "issues_from_scores",
    "pixel_scores",
    "register_image_score",
]

PixelScoreKind = Literal["self_confidence", "normalized_margin"]

_UNSHIFTED_MIN_TEMPERATURE = 0.01
"""From here up, exp(−s/T) cannot underflow for probabilities (s ≤ 1.001): no shift needed."""


class ImageScoreMethod(Protocol):
    """``(pixel_scores (B, P) f8, valid (B, P) bool, labels (B, P) i8, **params) -> (B,)``."""

    def __call__(
        self, pixel_scores: np.ndarray, valid: np.ndarray, labels: np.ndarray, **params: Any
    ) -> np.ndarray: ...


IMAGE_SCORE_METHODS: dict[str, ImageScoreMethod] = {}
"""Registered image-score methods by name (``num_pixel_issues`` is computed separately: it needs
thresholds from the whole dataset)."""


def register_image_score(name: str) -> Callable[[ImageScoreMethod], ImageScoreMethod]:
    """Decorator registering an image-score method under ``name``."""

    def register(method: ImageScoreMethod) -> ImageScoreMethod:
        if name in IMAGE_SCORE_METHODS or name == "num_pixel_issues":
            raise ConfigError(f"an image-score method named {name!r} is already registered.")
        IMAGE_SCORE_METHODS[name] = method
        return method

    return register


def batch_pixel_scores(
    batch: Batch, kind: PixelScoreKind = "self_confidence", *, checked: bool = True
) -> np.ndarray:
    """float64 (B, H, W) pixel scores of one batch; ``checked``: labels known to be in [0, K)."""
    b, k, h, w = batch.pred_probs.shape
    p = h * w
    index = batch.labels.reshape(b, p) * p
    index += np.arange(b)[:, None] * (k * p) + np.arange(p)
    given = np.take(batch.pred_probs.reshape(-1), index, mode="wrap" if checked else "raise")
    given = given.reshape(b, h, w)
    given = given.astype(np.float64)
    if kind == "self_confidence":
        return given
    if kind == "normalized_margin":
        labels = batch.labels[:, None]
        others = batch.pred_probs.copy()
        np.put_along_axis(others, labels, -np.inf, axis=1)
        best_other = others.max(axis=1).astype(np.float64)
        return (given - best_other + 1.0) / 2.0
    raise ConfigError(
        f"kind={kind!r} is not a pixel score; use 'self_confidence' or 'normalized_margin'."
    )


def pixel_scores(
    labels: Any,
    pred_probs: Any,
    *,
    kind: PixelScoreKind = "self_confidence",
    ignore_index: int | None = None,
    batch_size: int | None = None,
) -> np.ndarray:
    """Per-pixel label-quality scores.

    Args:
        labels: int (N, H, W) in [0, K) or ``ignore_index``.
        pred_probs: float (N, K, H, W), sums to 1 over K (numpy, torch or memmap).
        kind: ``self_confidence`` (p of the given class; cleanlab's pixel score) or
            ``normalized_margin``.
        ignore_index: label value to leave out; those pixels score NaN.
        batch_size: images per batch (memory bound).

    Returns:
        float64 (N, H, W); low means the pixel's label is suspect.
    """
    n, _, h, w = check_inputs(labels, pred_probs)
    out = np.empty((n, h, w), dtype=np.float64)
    for batch in iter_batches(labels, pred_probs, batch_size=batch_size, ignore_index=ignore_index):
        scores = batch_pixel_scores(batch, kind)
        if batch.valid is not None:
            scores[~batch.valid] = np.nan
        out[batch.start : batch.stop] = scores
    return out


def image_scores(
    labels: Any,
    pred_probs: Any,
    *,
    method: str = "softmin",
    pixel_score: PixelScoreKind = "self_confidence",
    ignore_index: int | None = None,
    batch_size: int | None = None,
    progress: bool = False,
    n_jobs: int = 1,
    check_values: bool = True,
    **params: Any,
) -> np.ndarray:
    """One label-quality score per image.

    Args:
        labels: int (N, H, W) in [0, K) or ``ignore_index``.
        pred_probs: float (N, K, H, W), sums to 1 over K (numpy, torch or memmap).
        method: ``softmin`` (``temperature=0.1``), ``mean``, ``min``, ``percentile`` (``q=1``),
            ``below_threshold`` (``threshold=0.5``), ``class_balanced_softmin``
            (``temperature=0.1``), ``num_pixel_issues``, or any registered method.
        pixel_score: which pixel score the method aggregates.
        ignore_index: label value of pixels to leave out of every score.
        batch_size: images per batch; memory is bounded by one batch.
        progress: show a progress bar.
        n_jobs: threads for ``softmin`` and ``num_pixel_issues`` (the other methods use one);
            the scores do not depend on it.
        check_values: check label range and probabilities (NaN, negative, sum over K). Only
            pass False for inputs known to be valid (e.g. checked by an earlier call): invalid
            ones then give wrong scores instead of an error. Checking reads every probability,
            about as much work as softmin itself.
        **params: the method's parameters.

    Returns:
        float64 (N,); low means the image's label is likely wrong. An image whose pixels are all
        ignored scores NaN.
    """
    n, _, _, _ = check_inputs(labels, pred_probs)
    check_method(method, params, pixel_score)
    if method == "num_pixel_issues":
        from interplab.seglabels.issues import num_pixel_issues_scores

        return num_pixel_issues_scores(
            labels, pred_probs, ignore_index=ignore_index, batch_size=batch_size,
            progress=progress, n_jobs=n_jobs, check_values=check_values, **params,
        )  # fmt: skip
    if method == "softmin" and pixel_score == "self_confidence":
        return _streamed_softmin(
            labels, pred_probs, temperature=_check_temperature(params.pop("temperature", 0.1)),
            ignore_index=ignore_index, batch_size=batch_size, progress=progress, n_jobs=n_jobs,
            check_values=check_values, **params,
        )  # fmt: skip
    score = IMAGE_SCORE_METHODS[method]
    out = np.empty(n, dtype=np.float64)
    batches = iter_batches(
        labels, pred_probs, batch_size=batch_size, ignore_index=ignore_index, progress=progress,
        check_values=check_values, description=f"image scores ({method})",
    )  # fmt: skip
    for batch in batches:
        b = batch.stop - batch.start
        flat = batch_pixel_scores(batch, pixel_score, checked=check_values).reshape(b, -1)
        valid = (
            np.ones_like(flat, dtype=bool) if batch.valid is None else batch.valid.reshape(b, -1)
        )
        values = np.asarray(score(flat, valid, batch.labels.reshape(b, -1), **params))
        if values.shape != (b,):
            raise ConfigError(
                f"image score {method!r} returned shape {values.shape} for a batch of {b} images; "
                f"a registered method must return one score per image, shape ({b},) (reduce over "
                "axis 1 of its (B, P) arguments)."
            )
        out[batch.start : batch.stop] = values
    return out


def check_method(
    method: str, params: dict[str, Any], pixel_score: PixelScoreKind = "self_confidence"
) -> None:
    """Check an image-score method's name and its parameters' names, before any data is read.

    :func:`image_scores` calls it first; the command line calls it before loading the data, so
    both give the same errors. The method checks its parameters' values when it runs (and
    ``temperature`` here, for the softmins).

    Raises:
        ConfigError: an unknown method, a parameter the method does not take, a temperature
            ≤ 0, or ``num_pixel_issues`` with a pixel score other than self-confidence.
    """
    if method == "num_pixel_issues":
        if pixel_score != "self_confidence":
            raise ConfigError(
                f"num_pixel_issues flags pixels by Confident Learning, not by a pixel score; "
                f"drop pixel_score={pixel_score!r}."
            )
        _check_params(method, ("downsample",), params)
        return
    if method not in IMAGE_SCORE_METHODS:
        known = sorted([*IMAGE_SCORE_METHODS, "num_pixel_issues"])
        raise ConfigError(f"method={method!r} is not a registered image score; use one of {known}.")
    _check_params(method, _method_params(IMAGE_SCORE_METHODS[method]), params)
    if method in ("softmin", "class_balanced_softmin") and "temperature" in params:
        _check_temperature(params["temperature"])


def issues_from_scores(
    image_scores: np.ndarray, pixel_scores: np.ndarray | None = None, *, threshold: float = 0.1
) -> np.ndarray:
    """What falls below ``threshold``: the pixels, or the images lowest first.

    cleanlab's ``segmentation.rank.issues_from_scores`` without its bug B2 (it returns the
    first image at or above the threshold too).

    Args:
        image_scores: float (N,), from :func:`image_scores`.
        pixel_scores: float (N, H, W), from :func:`pixel_scores`; if given, the pixel mask is
            returned instead.
        threshold: scores strictly below it are issues.

    Returns:
        bool (N, H, W) ``pixel_scores < threshold`` if ``pixel_scores`` is given; otherwise int64
        (m,) the images scoring below ``threshold``, lowest score first (ties by index). NaN
        scores (all pixels ignored) are never issues.
    """
    if not 0 <= threshold <= 1:
        raise ConfigError(f"threshold={threshold!r} must be in [0, 1] (scores are in [0, 1]).")
    if pixel_scores is not None:
        with np.errstate(invalid="ignore"):
            return np.asarray(pixel_scores) < threshold
    scores = np.asarray(image_scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ShapeError(f"image_scores must have shape (N,); got {scores.shape}.")
    below = np.flatnonzero(scores < threshold)
    return below[np.argsort(scores[below], kind="stable")]


def _method_params(method: ImageScoreMethod) -> tuple[str, ...] | None:
    """Names of a method's own parameters (after the three arrays); None if it takes **kwargs."""
    parameters = list(inspect.signature(method).parameters.values())[3:]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return tuple(p.name for p in parameters)


def _check_params(method: str, known: tuple[str, ...] | None, params: dict[str, Any]) -> None:
    if known is not None and (unknown := sorted(set(params) - set(known))):
        takes = f"takes only {', '.join(f'{k}=' for k in known)}" if known else "takes none"
        raise ConfigError(f"method={method!r} {takes}; got {unknown}.")


def _check_temperature(temperature: float) -> float:
    if not isinstance(temperature, int | float) or not temperature > 0:
        raise ConfigError(f"temperature={temperature!r} must be > 0 (0.1 is the paper's default).")
    return float(temperature)


def _streamed_softmin(
    labels: Any, pred_probs: Any, *, temperature: float, ignore_index: int | None,
    batch_size: int | None, progress: bool, n_jobs: int = 1, check_values: bool = True,
    **unknown: Any,
) -> np.ndarray:  # fmt: skip
    """Softmin of self-confidence, streamed over cache-sized chunks (see :func:`image_scores`).

    Checking the values, gathering p(label) and the weighted sums run chunk by chunk while the
    chunk is in cache (on ``n_jobs`` threads). Each chunk gives, per image, Σ w·s and Σ w with
    w = exp((m − s)/T), m its lowest score (0 for T ≥ 0.01, where nothing can underflow); an
    image's chunks are combined in order (rescaled to the lowest m), so the result does not
    depend on ``n_jobs`` and equals cleanlab's max-shifted softmax within a few ulps.
    """
    if unknown:
        _check_params("softmin", ("temperature",), unknown)
    n = check_inputs(labels, pred_probs)[0]
    numerator, denominator = np.zeros(n), np.zeros(n)
    shift = np.full(n, np.inf)  # lowest pixel score so far, per image
    batches = iter_batches(
        labels, pred_probs, batch_size=batch_size, ignore_index=ignore_index, check_values=False,
        progress=progress, description="image scores (softmin)",
    )  # fmt: skip
    chunks = (
        chunk
        for batch in batches
        for chunk in iter_chunks(batch, check_values=False, trusted=check_values)
    )  # checked by partial_sums before any gather
    shifted = temperature < _UNSHIFTED_MIN_TEMPERATURE

    def partial_sums(chunk: Chunk) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        if check_values:
            check_chunk(chunk, ignore_index)
        return _chunk_softmin_sums(chunk, temperature, shift=shifted)

    for start, low, num, den in map_chunks(partial_sums, chunks, n_jobs):
        if len(low) == 1 and np.isfinite(low[0]):  # one image: scalar bookkeeping
            old, new_low = float(shift[start]), min(float(shift[start]), float(low[0]))
            keep = math.exp((new_low - old) / temperature) if math.isfinite(old) else 0.0
            add = math.exp((new_low - float(low[0])) / temperature)
            numerator[start] = numerator[start] * keep + float(num[0]) * add
            denominator[start] = denominator[start] * keep + float(den[0]) * add
            shift[start] = new_low
            continue
        rows = slice(start, start + len(low))
        old, new = shift[rows], np.minimum(shift[rows], low)
        with np.errstate(invalid="ignore"):  # inf − inf where an image has no pixel yet
            keep = np.where(np.isfinite(old), np.exp((new - old) / temperature), 0.0)
            add = np.where(np.isfinite(low), np.exp((new - low) / temperature), 0.0)
        numerator[rows] = numerator[rows] * keep + num * add
        denominator[rows] = denominator[rows] * keep + den * add
        shift[rows] = new
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )


def _chunk_softmin_sums(
    chunk: Chunk, temperature: float, *, shift: bool = True
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """(first image, m, Σ w·s, Σ w) of each image's pixels in the chunk, w = exp((m − s)/T).

    m float64 (b,) is the image's lowest score in the chunk (inf if none counts), or 0 without
    ``shift`` (for checked scores in [0, 1] and T ≥ 0.01, where nothing can underflow).
    """
    scores = chunk.self_confidence()  # (b, c), the input's dtype
    valid = chunk.valid
    if len(scores) == 1 and valid is None:  # a piece of one image: scalar bookkeeping
        row = scores[0].astype(np.float64)
        low = float(row.min()) if shift else 0.0
        weights = row * (-1.0 / temperature)
        if low:
            weights += low / temperature
        np.exp(weights, out=weights)
        num = np.einsum("i,i->", weights, row)
        return chunk.start, np.array([low]), np.array([num]), np.array([weights.sum()])
    scores = scores.astype(np.float64)  # a copy
    if valid is not None:  # ignored pixels may hold any value (NaN, too): make them count 0
        scores[~valid] = 0.0
    if not shift:
        low_rows = np.where(valid.any(axis=1), 0.0, np.inf) if valid is not None else None
    elif valid is None:
        low_rows = scores.min(axis=1)
    else:
        low_rows = np.min(scores, axis=1, where=valid, initial=np.inf)
    weights = scores * (-1.0 / temperature)
    if low_rows is None:
        low_rows = np.zeros(len(scores))
    else:
        weights += np.where(np.isfinite(low_rows), low_rows, 0.0)[:, None] / temperature
    if valid is not None:
        weights[~valid] = -np.inf
    np.exp(weights, out=weights)
    return chunk.start, low_rows, np.einsum("ij,ij->i", weights, scores), weights.sum(axis=1)


def _softmin(scores: np.ndarray, valid: np.ndarray, temperature: float) -> np.ndarray:
    """Σ w s / Σ w with w = exp((1 − s)/T), max-shifted per row, over valid pixels only."""
    if valid.all():  # the common case, without masking
        x = 1.0 - scores
        x -= x.max(axis=1, keepdims=True)
        x /= temperature
        np.exp(x, out=x)
        result: np.ndarray = (x * scores).sum(axis=1) / x.sum(axis=1)
        return result
    x = np.where(valid, 1.0 - scores, -np.inf)
    shift = np.max(x, axis=1, keepdims=True)
    shift = np.where(np.isfinite(shift), shift, 0.0)
    weights = np.exp((x - shift) / temperature)
    total = weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            total > 0, (weights * np.where(valid, scores, 0.0)).sum(axis=1) / total, np.nan
        )


@register_image_score("softmin")
def softmin(
    pixel_scores: np.ndarray, valid: np.ndarray, labels: np.ndarray, *, temperature: float = 0.1
) -> np.ndarray:
    """Soft minimum: weights softmax((1 − s)/T) over the image's pixels (T → 0: min, ∞: mean)."""
    return _softmin(pixel_scores, valid, _check_temperature(temperature))


@register_image_score("mean")
def mean(pixel_scores: np.ndarray, valid: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mean pixel score."""
    count = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.where(valid, pixel_scores, 0.0).sum(axis=1) / count, np.nan)


@register_image_score("min")
def minimum(pixel_scores: np.ndarray, valid: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Lowest pixel score."""
    low = np.where(valid, pixel_scores, np.inf).min(axis=1)
    return np.where(np.isfinite(low), low, np.nan)


@register_image_score("percentile")
def percentile(
    pixel_scores: np.ndarray, valid: np.ndarray, labels: np.ndarray, *, q: float = 1.0
) -> np.ndarray:
    """The q-th percentile (0..100) of the pixel scores (linear interpolation)."""
    if not 0 <= q <= 100:
        raise ConfigError(f"q={q!r} must be a percentile in [0, 100].")
    masked = np.where(valid, pixel_scores, np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "All-NaN slice": all-void images
        out: np.ndarray = np.nanpercentile(masked, q, axis=1) if valid.any() else masked[:, 0]
    return np.where(valid.any(axis=1), out, np.nan)


@register_image_score("below_threshold")
def below_threshold(
    pixel_scores: np.ndarray, valid: np.ndarray, labels: np.ndarray, *, threshold: float = 0.5
) -> np.ndarray:
    """1 − the fraction of pixels whose score is below ``threshold``."""
    if not 0 <= threshold <= 1:
        raise ConfigError(f"threshold={threshold!r} must be in [0, 1].")
    count = valid.sum(axis=1)
    low = ((pixel_scores < threshold) & valid).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, 1.0 - low / count, np.nan)


@register_image_score("class_balanced_softmin")
def class_balanced_softmin(
    pixel_scores: np.ndarray, valid: np.ndarray, labels: np.ndarray, *, temperature: float = 0.1
) -> np.ndarray:
    """Softmin within each class present in the image's labels, then the worst class.

    Small classes (a car among sky and road) weigh as much as large ones.
    """
    t = _check_temperature(temperature)
    out = np.full(len(pixel_scores), np.inf)
    for k in np.unique(labels[valid]):
        in_class = valid & (labels == k)
        present = in_class.any(axis=1)
        scores = _softmin(pixel_scores, in_class, t)
        out = np.where(present, np.minimum(out, scores), out)
    return np.where(np.isfinite(out), out, np.nan)
