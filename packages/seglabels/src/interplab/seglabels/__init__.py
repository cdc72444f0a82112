"""interplab.seglabels: label quality of segmentation masks from any model's probabilities.

Lad & Mueller 2023, "Estimating label quality and errors in semantic segmentation data via any
model" (arXiv 2307.05080). Legend: N images, K classes, H×W pixels; ``labels`` int (N, H, W),
``pred_probs`` float (N, K, H, W). Scores are "higher = label more likely right"::

    scores = image_scores(labels, pred_probs)            # softmin, T = 0.1
    mask = find_label_issues(labels, pred_probs)         # Confident-Learning pixel mask
    evaluate(scores, is_mislabeled).auprc
"""

from interplab.seglabels.corrupt import ErrorRates as ErrorRates
from interplab.seglabels.corrupt import InjectedErrors as InjectedErrors
from interplab.seglabels.corrupt import inject_label_errors as inject_label_errors
from interplab.seglabels.data import CLASS_NAMES as CLASS_NAMES
from interplab.seglabels.data import StreetScenes as StreetScenes
from interplab.seglabels.data import load_folder as load_folder
from interplab.seglabels.data import load_pred_probs as load_pred_probs
from interplab.seglabels.data import make_street_scenes as make_street_scenes
from interplab.seglabels.data import save_folder as save_folder
from interplab.seglabels.evaluate import Evaluation as Evaluation
from interplab.seglabels.evaluate import evaluate as evaluate
from interplab.seglabels.evaluate import evaluate_by_kind as evaluate_by_kind
from interplab.seglabels.evaluate import mean_iou as mean_iou
from interplab.seglabels.issues import find_label_issues as find_label_issues
from interplab.seglabels.models import SegmenterSpec as SegmenterSpec
from interplab.seglabels.models import cross_val_pred_probs as cross_val_pred_probs
from interplab.seglabels.models import predict_probs as predict_probs
from interplab.seglabels.models import train_segmenter as train_segmenter
from interplab.seglabels.scores import IMAGE_SCORE_METHODS as IMAGE_SCORE_METHODS
from interplab.seglabels.scores import image_scores as image_scores
from interplab.seglabels.scores import pixel_scores as pixel_scores
from interplab.seglabels.scores import register_image_score as register_image_score

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
