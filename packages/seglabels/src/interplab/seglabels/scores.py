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

from collections.abc import Callable
from typing import Any, Literal, Protocol

import numpy as np

from interplab.core.errors import ConfigError
from interplab.seglabels.inputs import Batch, check_inputs, iter_batches

__all__ = [
    "IMAGE_SCORE_METHODS",
    "PixelScoreKind",
    "image_scores",
    "pixel_scores",
    "register_image_score",
]

PixelScoreKind = Literal["self_confidence", "normalized_margin"]


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


def batch_pixel_scores(batch: Batch, kind: PixelScoreKind = "self_confidence") -> np.ndarray:
    """float64 (B, H, W) pixel scores of one batch."""
    labels = batch.labels[:, None]
    given = np.take_along_axis(batch.pred_probs, labels, axis=1)[:, 0].astype(np.float64)
    if kind == "self_confidence":
        return given
    if kind == "normalized_margin":
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
        **params: the method's parameters.

    Returns:
        float64 (N,); low means the image's label is likely wrong. An image whose pixels are all
        ignored scores NaN.
    """
    n, _, _, _ = check_inputs(labels, pred_probs)
    if method == "num_pixel_issues":
        from interplab.seglabels.issues import num_pixel_issues_scores

        return num_pixel_issues_scores(
            labels, pred_probs, ignore_index=ignore_index, batch_size=batch_size, **params
        )
    if method not in IMAGE_SCORE_METHODS:
        known = sorted([*IMAGE_SCORE_METHODS, "num_pixel_issues"])
        raise ConfigError(f"method={method!r} is not a registered image score; use one of {known}.")
    score = IMAGE_SCORE_METHODS[method]
    out = np.empty(n, dtype=np.float64)
    batches = iter_batches(
        labels, pred_probs, batch_size=batch_size, ignore_index=ignore_index, progress=progress,
        description=f"image scores ({method})",
    )  # fmt: skip
    for batch in batches:
        b = batch.stop - batch.start
        flat = batch_pixel_scores(batch, pixel_score).reshape(b, -1)
        valid = (
            np.ones_like(flat, dtype=bool) if batch.valid is None else batch.valid.reshape(b, -1)
        )
        out[batch.start : batch.stop] = score(flat, valid, batch.labels.reshape(b, -1), **params)
    return out


def _check_temperature(temperature: float) -> float:
    if not temperature > 0:
        raise ConfigError(f"temperature={temperature!r} must be > 0 (0.1 is the paper's default).")
    return float(temperature)


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
    with np.errstate(all="ignore"):
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
