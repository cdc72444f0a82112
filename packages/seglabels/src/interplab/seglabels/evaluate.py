"""How well image scores find the mislabeled images: AUPRC, AUROC, precision/recall/lift at k.

Scores follow the package convention (low = likely mislabeled), so images are ranked by
ascending score. Ties are handled as scikit-learn does (tied scores form one threshold); at k,
a tie across the cut counts as its expected share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from interplab.core.errors import ConfigError, ShapeError

__all__ = [
    "Evaluation",
    "average_precision",
    "evaluate",
    "evaluate_by_kind",
    "mean_iou",
    "precision_recall_curve",
    "roc_auc",
]


@dataclass(frozen=True)
class Evaluation:
    """Detection quality of one score on one set of images."""

    auprc: float
    """Average precision of ranking mislabeled images first (base rate = chance level)."""
    auroc: float
    """Probability that a random mislabeled image scores below a random clean one."""
    precision_at_k: float
    recall_at_k: float
    lift_at_k: float
    """precision_at_k / base_rate."""
    k: int
    """Images reviewed (default: the number of mislabeled images)."""
    base_rate: float
    n_images: int
    n_mislabeled: int

    def as_dict(self) -> dict[str, float]:
        """Plain floats by name."""
        return {name: float(value) for name, value in asdict(self).items()}


def _check(scores: Any, is_mislabeled: Any) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(is_mislabeled)
    if s.ndim != 1 or y.shape != s.shape:
        raise ShapeError(
            f"scores has shape {s.shape} and is_mislabeled {y.shape}; both must be (N,)."
        )
    if y.dtype != bool:
        if not np.isin(y, (0, 1)).all():
            raise ConfigError("is_mislabeled must be booleans (or 0/1).")
        y = y.astype(bool)
    if not np.isfinite(s).all():
        bad = np.flatnonzero(~np.isfinite(s))[:5].tolist()
        raise ConfigError(
            f"scores contain NaN or infinity at images {bad}; drop or fill them (an image whose "
            "pixels are all ignored scores NaN)."
        )
    return s, y


def _ranked_counts(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative true and false positives at each distinct threshold, lowest score first."""
    order = np.argsort(scores, kind="mergesort")
    s, y = scores[order], positive[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    return tps.astype(np.float64), fps.astype(np.float64)


def average_precision(scores: Any, is_mislabeled: Any) -> float:
    """Σ (R_i − R_{i−1}) P_i over thresholds, ranking low scores first (sklearn's AP)."""
    s, y = _check(scores, is_mislabeled)
    if not y.any():
        return float("nan")
    tps, fps = _ranked_counts(s, y)
    precision = tps / (tps + fps)
    recall = tps / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def precision_recall_curve(scores: Any, is_mislabeled: Any) -> tuple[np.ndarray, np.ndarray]:
    """(precision, recall) at each distinct threshold, reviewing the lowest scores first."""
    s, y = _check(scores, is_mislabeled)
    tps, fps = _ranked_counts(s, y)
    return tps / (tps + fps), tps / max(int(y.sum()), 1)


def mean_iou(predicted: Any, labels: Any, n_classes: int) -> float:
    """Mean over classes present in either array of |pred ∩ label| / |pred ∪ label|.

    Args:
        predicted: int (N, H, W) predicted classes.
        labels: int (N, H, W) reference classes.
        n_classes: K.
    """
    p, y = np.asarray(predicted).ravel(), np.asarray(labels).ravel()
    if p.shape != y.shape:
        raise ShapeError(f"predicted {np.shape(predicted)} and labels {np.shape(labels)} differ.")
    joint = np.bincount(y * n_classes + p, minlength=n_classes**2).reshape(n_classes, n_classes)
    inter = np.diag(joint).astype(np.float64)
    union = joint.sum(axis=0) + joint.sum(axis=1) - inter
    present = union > 0
    return float(np.mean(inter[present] / union[present]))


def roc_auc(scores: Any, is_mislabeled: Any) -> float:
    """Area under the ROC curve of ranking low scores first (ties count one half)."""
    s, y = _check(scores, is_mislabeled)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy.stats import rankdata

    ranks = rankdata(-s)  # high rank = low score = predicted mislabeled
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def evaluate(scores: Any, is_mislabeled: Any, *, k: int | None = None) -> Evaluation:
    """AUPRC, AUROC and precision/recall/lift among the ``k`` lowest-scoring images.

    Args:
        scores: float (N,), low = likely mislabeled.
        is_mislabeled: bool (N,), the truth.
        k: images reviewed; default the number of mislabeled images.

    Images tied with the k-th lowest score share the remaining places: precision, recall and
    lift at k are their expected values under a random order of the tie (so they never depend
    on the images' order in the dataset).
    """
    s, y = _check(scores, is_mislabeled)
    n_pos = int(y.sum())
    if k is None and n_pos == 0:
        raise ConfigError(
            "is_mislabeled marks no image, so k (default: the number of mislabeled images) is 0; "
            "pass k, or evaluate a set with mislabeled images."
        )
    k = n_pos if k is None else k
    if not 0 < k <= len(s):
        raise ConfigError(f"k={k} must be in 1..{len(s)} (the number of images).")
    cutoff = np.partition(s, k - 1)[k - 1]  # the k-th lowest score
    below, tied = s < cutoff, s == cutoff
    # images tied at the cutoff fill the remaining places in random order: expected hits
    hits = float(y[below].sum()) + (k - int(below.sum())) * float(y[tied].mean())
    base = n_pos / len(s)
    precision = hits / k
    return Evaluation(
        auprc=average_precision(s, y),
        auroc=roc_auc(s, y),
        precision_at_k=precision,
        recall_at_k=hits / n_pos if n_pos else float("nan"),
        lift_at_k=precision / base if base else float("nan"),
        k=k,
        base_rate=base,
        n_images=len(s),
        n_mislabeled=n_pos,
    )


def evaluate_by_kind(
    scores: Any, kinds: Sequence[Sequence[str]], *, names: Sequence[str] | None = None
) -> dict[str, Evaluation]:
    """Per error type: images with that error against images with no error at all.

    Images whose only errors are of other types are left out of that type's evaluation; the
    key ``"any"`` evaluates every mislabeled image against the clean ones.

    Args:
        scores: float (N,).
        kinds: per image, the error types it received (empty for clean images).
        names: error types to report (default: all that occur).
    """
    s = np.asarray(scores, dtype=np.float64)
    if len(kinds) != len(s):
        raise ShapeError(f"kinds has {len(kinds)} entries but scores has {len(s)}.")
    clean = np.array([len(k) == 0 for k in kinds])
    wanted = names or sorted({kind for image in kinds for kind in image})
    out = {"any": evaluate(s, ~clean)} if (~clean).any() and clean.any() else {}
    for name in wanted:
        has = np.array([name in image for image in kinds])
        keep = has | clean
        if has.any() and clean.any():
            out[name] = evaluate(s[keep], has[keep])
    return out
