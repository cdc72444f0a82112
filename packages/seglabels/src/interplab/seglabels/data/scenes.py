"""Procedural street scenes with exact masks.

Legend: N images, K = 9 classes (:data:`CLASS_NAMES`), H x W pixels.

:func:`make_street_scenes` draws SYNTHIA-like street views without any download: sky above a
horizon, buildings along a street that converges to a vanishing point, a road with lane markings,
sidewalks, trees, poles, pedestrians and cars scaled by depth. Traffic signs and bins are labelled
0 (``unlabeled``), as SYNTHIA labels "other" objects. Colours of the classes overlap on purpose
(grey buildings, grey roads, grey cars, white clouds, hazy far buildings, a per-image illumination
change), so a model needs texture, shape and context, not a pixel's colour alone.

Image ``i`` depends only on ``(seed, i)``: ``make_street_scenes(5, seed=s).images[3]`` equals
``make_street_scenes(10, seed=s).images[3]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interplab.core.errors import ConfigError
from interplab.seglabels.data._render import render_scene
from interplab.seglabels.data.classes import CLASS_NAMES

__all__ = ["MIN_SIZE", "StreetScenes", "make_street_scenes"]

MIN_SIZE = 32
"""Smallest image side :func:`make_street_scenes` accepts; scenes are designed for 64 and up."""


@dataclass(frozen=True)
class StreetScenes:
    """Images and exact masks from :func:`make_street_scenes`."""

    images: np.ndarray
    """float32 (N, 3, H, W), RGB in [0, 1]."""
    labels: np.ndarray
    """int64 (N, H, W), class ids in [0, K) indexing :attr:`class_names`."""
    class_names: tuple[str, ...]
    """Name of each class id (:data:`CLASS_NAMES`)."""
    seed: int
    """The seed the scenes were drawn with."""

    def __len__(self) -> int:
        return int(self.images.shape[0])


def make_street_scenes(
    n_images: int, *, size: int | tuple[int, int] = 64, seed: int
) -> StreetScenes:
    """Draw ``n_images`` street scenes with exact class masks.

    Args:
        n_images: Number of images N, at least 1.
        size: Side of square images, or ``(H, W)``; each side at least :data:`MIN_SIZE` (32).
            The scenes are designed for 64 x 64 and larger.
        seed: Non-negative seed; image ``i`` is drawn from ``np.random.default_rng([seed, i])``,
            so it does not depend on ``n_images``.

    Returns:
        :class:`StreetScenes` with images float32 (N, 3, H, W) in [0, 1] and labels int64
        (N, H, W) in [0, 9).

    Raises:
        ConfigError: ``n_images`` below 1, a side below 32, or a negative seed.
    """
    if isinstance(n_images, bool) or not isinstance(n_images, int | np.integer) or n_images < 1:
        raise ConfigError(f"n_images={n_images!r} must be a positive integer, e.g. n_images=100.")
    height, width = _check_size(size)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed={seed!r} must be a non-negative integer, e.g. seed=0.")
    images = np.empty((n_images, 3, height, width), dtype=np.float32)
    labels = np.empty((n_images, height, width), dtype=np.int64)
    for i in range(n_images):
        images[i], labels[i] = render_scene(np.random.default_rng([int(seed), i]), height, width)
    return StreetScenes(images=images, labels=labels, class_names=CLASS_NAMES, seed=int(seed))


def _check_size(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, int | np.integer):
        sides: tuple[object, ...] = (size, size)
    else:
        sides = tuple(size) if isinstance(size, tuple | list) else (size,)
    valid = [int(s) for s in sides if isinstance(s, int | np.integer) and not isinstance(s, bool)]
    if len(sides) != 2 or len(valid) != 2 or min(valid) < MIN_SIZE:
        raise ConfigError(
            f"size={size!r} is not allowed: pass an int >= {MIN_SIZE} for square images or a "
            f"pair (H, W) of ints >= {MIN_SIZE}, e.g. size=64 or size=(64, 128)."
        )
    return valid[0], valid[1]
