"""interplab.seglabels: label quality of segmentation masks from any model's probabilities.

Lad & Mueller 2023, "Estimating label quality and errors in semantic segmentation data via any
model" (arXiv 2307.05080). Legend: N images, K classes, H×W pixels; ``labels`` int (N, H, W),
``pred_probs`` float (N, K, H, W). Scores are "higher = label more likely right"::

    scores = image_scores(labels, pred_probs)            # softmin, T = 0.1
    mask = find_label_issues(labels, pred_probs)         # Confident-Learning pixel mask
    evaluate(scores, is_mislabeled).auprc
"""

from __future__ import annotations

from interplab.core.lazy import lazy_exports

__all__ = [
    "CLASS_NAMES",
    "IMAGE_SCORE_METHODS",
    "ErrorRates",
    "Evaluation",
    "InjectedErrors",
    "SegmenterSpec",
    "StreetScenes",
    "cross_val_pred_probs",
    "evaluate",
    "evaluate_by_kind",
    "find_label_issues",
    "image_scores",
    "inject_label_errors",
    "issues_from_scores",
    "load_folder",
    "load_pred_probs",
    "make_street_scenes",
    "mean_iou",
    "pixel_scores",
    "predict_probs",
    "register_image_score",
    "save_folder",
    "train_segmenter",
]

_WHERE = {
    "ErrorRates": "interplab.seglabels.corrupt",
    "InjectedErrors": "interplab.seglabels.corrupt",
    "inject_label_errors": "interplab.seglabels.corrupt",
    "CLASS_NAMES": "interplab.seglabels.data",
    "StreetScenes": "interplab.seglabels.data",
    "load_folder": "interplab.seglabels.data",
    "load_pred_probs": "interplab.seglabels.data",
    "make_street_scenes": "interplab.seglabels.data",
    "save_folder": "interplab.seglabels.data",
    "Evaluation": "interplab.seglabels.evaluate",
    "evaluate": "interplab.seglabels.evaluate",
    "evaluate_by_kind": "interplab.seglabels.evaluate",
    "mean_iou": "interplab.seglabels.evaluate",
    "find_label_issues": "interplab.seglabels.issues",
    "SegmenterSpec": "interplab.seglabels.models",
    "cross_val_pred_probs": "interplab.seglabels.models",
    "predict_probs": "interplab.seglabels.models",
    "train_segmenter": "interplab.seglabels.models",
    "IMAGE_SCORE_METHODS": "interplab.seglabels.scores",
    "image_scores": "interplab.seglabels.scores",
    "issues_from_scores": "interplab.seglabels.scores",
    "pixel_scores": "interplab.seglabels.scores",
    "register_image_score": "interplab.seglabels.scores",
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
