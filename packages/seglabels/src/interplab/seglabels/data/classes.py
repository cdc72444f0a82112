"""The classes of the procedural street scenes (SYNTHIA-like); the index is the class id."""

__all__ = [
    "BUILDING",
    "CAR",
    "CLASS_NAMES",
    "N_CLASSES",
    "PEDESTRIAN",
    "POLE",
    "ROAD",
    "SIDEWALK",
    "SKY",
    "UNLABELED",
    "VEGETATION",
]

CLASS_NAMES: tuple[str, ...] = (
    "unlabeled",
    "sky",
    "road",
    "sidewalk",
    "building",
    "vegetation",
    "car",
    "pedestrian",
    "pole",
)
"""Class names; the index is the class id, 0 is ``unlabeled``."""
UNLABELED, SKY, ROAD, SIDEWALK, BUILDING, VEGETATION, CAR, PEDESTRIAN, POLE = range(9)
N_CLASSES = len(CLASS_NAMES)
