"""Data: procedural street scenes with exact masks, and a user's own folders of images/masks."""

from interplab.seglabels.data.classes import (
    BUILDING,
    CAR,
    CLASS_NAMES,
    N_CLASSES,
    PEDESTRIAN,
    POLE,
    ROAD,
    SIDEWALK,
    SKY,
    UNLABELED,
    VEGETATION,
)
from interplab.seglabels.data.folders import load_folder, load_pred_probs, mask_files, save_folder
from interplab.seglabels.data.scenes import MIN_SIZE, StreetScenes, make_street_scenes

__all__ = [
    "BUILDING",
    "CAR",
    "CLASS_NAMES",
    "MIN_SIZE",
    "N_CLASSES",
    "PEDESTRIAN",
    "POLE",
    "ROAD",
    "SIDEWALK",
    "SKY",
    "UNLABELED",
    "VEGETATION",
    "StreetScenes",
    "load_folder",
    "load_pred_probs",
    "make_street_scenes",
    "mask_files",
    "save_folder",
]
