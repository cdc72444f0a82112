"""Inject the paper's annotation errors into exact masks, reproducibly.

Legend: N images, H x W pixels; ``labels`` int (N, H, W) class ids.

Protocol (Lad & Mueller 2023, authors' notebooks; reference §4.2). For every image, five
independent uniform draws decide, in the order ``drop_sky, drop_car, shift_sky, shift_car,
swap_sky_car``, which errors it receives (error ``e`` applies when ``u_e >= 1 - rate_e``); an
image can receive several, applied in that order:

* ``drop_<class>``: every pixel of the class becomes unlabeled (an overlooked object).
* ``shift_<class>``: each connected component of the class mask is deformed by a smooth periodic
  random displacement of its contour (below). Pixels freed by a shrink become unlabeled; a grown
  mask overwrites every other class.
* ``swap_sky_car``: sky pixels become car and car pixels become sky.

Shift. The paper moves each OpenCV contour point ``p_j`` by ``-unit(p_j - c) * f(2 pi j / m)``
(``c`` the centre of the contour's bounding box, ``f`` a periodic cubic spline through 5 normal
draws of variance 1200 px² on 1080 x 1920 images) and fills the polygon. Here the same radial
displacement is applied without OpenCV, as a warp of the whole component around ``c``: a pixel at
radius ``r`` and angle ``phi`` belongs to the new mask when the pixel at radius ``r + f(phi)`` on
the same ray belongs to the old one. Positive ``f`` shrinks the outline, negative ``f`` grows it,
and every changed pixel lies within ``max |f| + 1`` pixels of the original outline. The spline is
indexed by the angle around ``c`` instead of the position along the contour (the same thing for
star-shaped outlines). The image border counts as outline, as for OpenCV contours. The default
variance is the paper's, scaled to the image: ``1200 * (min(H, W) / 1080) ** 2`` px².

An error that would change no pixel (its class is absent, or a shift too small to move a pixel)
is not recorded for that image.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.interpolate import CubicSpline

from interplab.core.errors import ConfigError, ShapeError
from interplab.seglabels.data import CAR, SKY, UNLABELED

__all__ = [
    "ERROR_KINDS",
    "PAPER_SHIFT_VARIANCE",
    "ClassIds",
    "ErrorRates",
    "InjectedErrors",
    "inject_label_errors",
    "shift_mask",
]

ERROR_KINDS: tuple[str, ...] = ("drop_sky", "drop_car", "shift_sky", "shift_car", "swap_sky_car")
"""Error kinds in the order they are drawn and applied."""

PAPER_SHIFT_VARIANCE = 1200.0
"""Variance (px²) of the shift spline's knots in the paper, for 1080 x 1920 images."""
_PAPER_MIN_SIDE = 1080
_N_KNOTS = 5
_STREAM_TAG = 0x636F7272  # separates the injection's random stream from make_street_scenes'


@dataclass(frozen=True)
class ErrorRates:
    """Probability that an image receives each error kind (the paper's defaults)."""

    drop_sky: float = 0.10
    """Every sky pixel becomes unlabeled."""
    drop_car: float = 0.10
    """Every car pixel becomes unlabeled."""
    shift_sky: float = 0.05
    """The sky outline is deformed."""
    shift_car: float = 0.05
    """Each car outline is deformed."""
    swap_sky_car: float = 0.05
    """Sky and car labels are exchanged."""

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
                raise ConfigError(f"ErrorRates.{field.name}={value!r} must be a number in [0, 1].")
            if not 0.0 <= float(value) <= 1.0:
                raise ConfigError(
                    f"ErrorRates.{field.name}={value!r} is outside [0, 1]; pass a probability, "
                    f"e.g. ErrorRates({field.name}=0.1)."
                )

    def as_tuple(self) -> tuple[float, ...]:
        """The rates in the order of :data:`ERROR_KINDS`."""
        return tuple(float(getattr(self, kind)) for kind in ERROR_KINDS)


@dataclass(frozen=True)
class ClassIds:
    """Which class ids the errors act on (defaults: :mod:`interplab.seglabels.data`'s ids).

    For the paper's SYNTHIA 20-class ids use ``ClassIds(sky=1, car=8, unlabeled=0)``.
    """

    sky: int = SKY
    car: int = CAR
    unlabeled: int = UNLABELED

    def __post_init__(self) -> None:
        values = {"sky": self.sky, "car": self.car, "unlabeled": self.unlabeled}
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise ConfigError(f"ClassIds.{name}={value!r} must be a non-negative integer.")
        if len(set(values.values())) != 3:
            raise ConfigError(
                f"ClassIds sky={self.sky}, car={self.car}, unlabeled={self.unlabeled} must be "
                "three different class ids."
            )


@dataclass(frozen=True)
class InjectedErrors:
    """Noisy labels and the record of which errors went where."""

    labels: np.ndarray
    """int64 (N, H, W): the noisy labels (a new array; the input is not modified)."""
    is_mislabeled: np.ndarray
    """bool (N,): the image has at least one changed pixel (``changed.any((1, 2))``)."""
    kinds: list[list[str]]
    """Per image, the error kinds applied (in :data:`ERROR_KINDS` order), e.g.
    ``["drop_sky", "shift_car"]``; only kinds that changed pixels are listed."""
    changed: np.ndarray
    """bool (N, H, W): pixels whose noisy label differs from the clean one."""
    seed: int
    """The seed the errors were drawn with."""
    rates: ErrorRates
    """The rates used."""
    shift_variance: float
    """Variance (px²) of the shift spline's knots that was used."""

    def as_table(self) -> list[dict[str, Any]]:
        """One plain dict per image: which errors it received and how many pixels changed.

        Returns:
            N dicts with keys ``image`` (index), ``is_mislabeled``, ``kinds`` (list of names),
            ``n_changed_pixels`` and one bool per kind in :data:`ERROR_KINDS`.
        """
        n_changed = self.changed.reshape(len(self.kinds), -1).sum(axis=1)
        return [
            {
                "image": i,
                "is_mislabeled": bool(self.is_mislabeled[i]),
                "kinds": list(kinds),
                "n_changed_pixels": int(n_changed[i]),
                **{kind: kind in kinds for kind in ERROR_KINDS},
            }
            for i, kinds in enumerate(self.kinds)
        ]

    def rates_dict(self) -> dict[str, float]:
        """The rates as a plain dict, for records."""
        return {key: float(value) for key, value in asdict(self.rates).items()}


def inject_label_errors(
    labels: np.ndarray,
    *,
    seed: int,
    rates: ErrorRates | None = None,
    class_ids: ClassIds | None = None,
    shift_variance: float | None = None,
) -> InjectedErrors:
    """Corrupt exact masks with the paper's drop, shift and swap errors.

    Image ``i``'s errors depend only on ``(seed, i)`` and its own labels, so a subset of images
    gets the same errors as in the full set.

    Args:
        labels: int (N, H, W) clean class ids (any integer dtype; not modified).
        seed: Non-negative seed of the draws.
        rates: Probability of each error kind per image; default :class:`ErrorRates` (the paper's).
        class_ids: Ids of sky, car and unlabeled; default :class:`ClassIds` (this package's).
        shift_variance: Variance in px² of the shift spline's 5 knots. Default: the paper's 1200 px²
            for 1080-row images scaled to this size, ``1200 * (min(H, W) / 1080) ** 2``.

    Returns:
        :class:`InjectedErrors` with noisy labels int64 (N, H, W), ``changed`` bool (N, H, W),
        ``is_mislabeled`` bool (N,) and the kinds applied to each image.

    Raises:
        ShapeError: ``labels`` is not 3-D.
        ConfigError: Non-integer labels, a negative seed or a negative ``shift_variance``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ShapeError(
            f"labels has shape {labels.shape}; expected (N, H, W) class ids "
            "(add a leading axis for one image: labels[None])."
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ConfigError(
            f"labels has dtype {labels.dtype}; expected integer class ids (N, H, W), e.g. int64."
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed={seed!r} must be a non-negative integer, e.g. seed=0.")
    rates = ErrorRates() if rates is None else rates
    ids = ClassIds() if class_ids is None else class_ids
    n, height, width = labels.shape
    if shift_variance is None:
        shift_variance = PAPER_SHIFT_VARIANCE * (min(height, width) / _PAPER_MIN_SIDE) ** 2
    elif not float(shift_variance) >= 0.0:
        raise ConfigError(
            f"shift_variance={shift_variance!r} must be >= 0 (px²); None scales the paper's "
            "1200 px² to the image size."
        )
    std = float(np.sqrt(shift_variance))
    thresholds = 1.0 - np.asarray(rates.as_tuple())

    noisy = labels.astype(np.int64, copy=True)
    kinds: list[list[str]] = []
    for i in range(n):
        rng = np.random.default_rng([int(seed), i, _STREAM_TAG])
        draws = rng.random(len(ERROR_KINDS))
        applied = []
        for kind, u, threshold in zip(ERROR_KINDS, draws, thresholds, strict=True):
            if u >= threshold and _apply(kind, noisy[i], ids, std, rng):
                applied.append(kind)
        kinds.append(applied)
    changed = noisy != labels
    return InjectedErrors(
        labels=noisy,
        is_mislabeled=changed.any(axis=(1, 2)),
        kinds=kinds,
        changed=changed,
        seed=int(seed),
        rates=rates,
        shift_variance=float(shift_variance),
    )


def _apply(
    kind: str, image: np.ndarray, ids: ClassIds, std: float, rng: np.random.Generator
) -> bool:
    """Apply one error kind to one (H, W) label image in place; return whether it changed it."""
    if kind == "swap_sky_car":
        is_sky, is_car = image == ids.sky, image == ids.car
        image[is_sky] = ids.car
        image[is_car] = ids.sky
        return bool(is_sky.any() or is_car.any())
    action, name = kind.split("_")
    cls = ids.sky if name == "sky" else ids.car
    mask = image == cls
    if not mask.any():
        return False
    if action == "drop":
        image[mask] = ids.unlabeled
        return True
    new_mask = shift_mask(mask, std=std, rng=rng)
    before = image.copy()
    image[mask & ~new_mask] = ids.unlabeled
    image[new_mask] = cls
    return bool((image != before).any())


def shift_mask(mask: np.ndarray, *, std: float, rng: np.random.Generator) -> np.ndarray:
    """Deform each connected component of a binary mask by a smooth radial contour shift.

    Per component (8-connectivity): draw 5 knots ~ N(0, std²) at angles 0, 2π/5, …, build the
    periodic cubic spline f through them, and keep pixel q when the pixel at radius
    ``|q - c| + f(angle)`` on the ray from ``c`` (the bounding-box centre) through q lies in the
    component. Positive f pulls the outline towards ``c``.

    Args:
        mask: bool (H, W).
        std: Standard deviation of the knots in pixels (>= 0).
        rng: Source of the knots; 5 normal draws per component, in label order.

    Returns:
        bool (H, W), the union of the deformed components (clipped to the image).
    """
    height, width = mask.shape
    components, _ = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    out = np.zeros_like(mask, dtype=bool)
    angles = np.linspace(0.0, 2.0 * np.pi, _N_KNOTS + 1)
    fine_angles = np.linspace(0.0, 2.0 * np.pi, 256, endpoint=False)
    for k, box in enumerate(ndimage.find_objects(components), start=1):
        if box is None:  # pragma: no cover - find_objects lists every label
            continue
        knots = rng.normal(0.0, std, _N_KNOTS)
        spline = CubicSpline(angles, np.append(knots, knots[0]), bc_type="periodic")
        reach = int(np.ceil(np.abs(spline(fine_angles)).max())) + 2
        y0, y1 = max(box[0].start - reach, 0), min(box[0].stop + reach, height)
        x0, x1 = max(box[1].start - reach, 0), min(box[1].stop + reach, width)
        cy = 0.5 * (box[0].start + box[0].stop - 1)
        cx = 0.5 * (box[1].start + box[1].stop - 1)
        dy = np.arange(y0, y1, dtype=np.float64)[:, None] - cy
        dx = np.arange(x0, x1, dtype=np.float64)[None, :] - cx
        radius = np.hypot(dy, dx)
        source_radius = np.maximum(radius + spline(np.arctan2(dy, dx) % (2.0 * np.pi)), 0.0)
        scale = np.divide(source_radius, radius, out=np.zeros_like(radius), where=radius > 0)
        sy = np.rint(cy + dy * scale).astype(np.int64)
        sx = np.rint(cx + dx * scale).astype(np.int64)
        inside = (sy >= 0) & (sy < height) & (sx >= 0) & (sx < width)
        hit = np.zeros(radius.shape, dtype=bool)
        hit[inside] = components[sy[inside], sx[inside]] == k
        out[y0:y1, x0:x1] |= hit
    return out
