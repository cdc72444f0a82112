"""Painting one street scene: canvas, street geometry, facades and objects (private).

Coordinates are float pixels; pixel (r, c) has its centre at (r + 0.5, c + 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.ndimage import gaussian_filter

from interplab.seglabels.data.classes import (
    BUILDING,
    CAR,
    PEDESTRIAN,
    POLE,
    ROAD,
    SIDEWALK,
    SKY,
    UNLABELED,
    VEGETATION,
)

__all__ = ["render_scene"]

_RGB = np.ndarray  # a (3,) float colour in [0, 1]


class _Canvas:
    """An RGB image, its label mask, pixel-centre coordinates and noise fields to texture with."""

    def __init__(self, rng: np.random.Generator, height: int, width: int) -> None:
        self.rng = rng
        self.h, self.w = height, width
        self.y = (np.arange(height, dtype=np.float32) + 0.5)[:, None]
        self.x = (np.arange(width, dtype=np.float32) + 0.5)[None, :]
        self.rgb = np.zeros((3, height, width), dtype=np.float32)
        self.lab = np.zeros((height, width), dtype=np.int64)
        self.px = min(height, width) / 64.0  # texture scale relative to a 64 x 64 image
        self.fine = rng.standard_normal((height, width), dtype=np.float32)
        self.medium = _smooth_noise(rng, (height, width), 0.7 * self.px)
        self.coarse = _smooth_noise(rng, (height, width), 5.0 * self.px)

    def paint(self, mask: np.ndarray, cls: int | None, colour: _RGB, shade: np.ndarray) -> None:
        """Colour ``mask`` with ``colour * shade`` and label it ``cls`` (None keeps labels)."""
        self.rgb[:, mask] = colour[:, None] * shade[mask][None, :]
        if cls is not None:
            self.lab[mask] = cls

    def flat(self, amount: float = 0.04) -> np.ndarray:
        """A shade field close to 1 (slight pixel noise)."""
        return 1.0 + amount * self.fine

    def rect(self, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        x0, x1 = _at_least_one_pixel(x0, x1)
        y0, y1 = _at_least_one_pixel(y0, y1)
        return (self.x >= x0) & (self.x < x1) & (self.y >= y0) & (self.y < y1)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
        rx, ry = max(rx, 0.6), max(ry, 0.6)
        return ((self.x - cx) / rx) ** 2 + ((self.y - cy) / ry) ** 2 <= 1.0

    def trapezoid(
        self, cx: float, y_top: float, y_bot: float, half_top: float, half_bot: float
    ) -> np.ndarray:
        y_top, y_bot = _at_least_one_pixel(y_top, y_bot)
        frac = np.clip((self.y - y_top) / (y_bot - y_top), 0.0, 1.0)
        half = np.maximum(half_top + frac * (half_bot - half_top), 0.5)
        inside = (self.y >= y_top) & (self.y < y_bot) & (np.abs(self.x - cx) < half)
        return np.asarray(inside, dtype=bool)


def _at_least_one_pixel(lo: float, hi: float) -> tuple[float, float]:
    if hi - lo < 1.0:
        mid = 0.5 * (lo + hi)
        return mid - 0.5, mid + 0.5
    return lo, hi


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    field = gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma, mode="wrap")
    field /= field.std() + 1e-8
    return np.asarray(field, dtype=np.float32)


def _pick(
    rng: np.random.Generator, palette: tuple[tuple[float, float, float], ...], spread: float
) -> _RGB:
    base = np.asarray(palette[int(rng.integers(len(palette)))], dtype=np.float32)
    return np.clip(base + rng.normal(0.0, spread, 3).astype(np.float32), 0.0, 1.0)


_SKY_TOP_HORIZON = (
    ((0.30, 0.50, 0.85), (0.72, 0.82, 0.95)),  # clear
    ((0.60, 0.64, 0.70), (0.80, 0.81, 0.83)),  # overcast
    ((0.45, 0.55, 0.70), (0.85, 0.78, 0.65)),  # hazy
    ((0.33, 0.33, 0.58), (0.93, 0.66, 0.46)),  # dusk
)
_BUILDING = (
    (0.55, 0.55, 0.55),
    (0.74, 0.67, 0.55),
    (0.60, 0.33, 0.26),
    (0.84, 0.84, 0.80),
    (0.32, 0.32, 0.35),
    (0.45, 0.52, 0.60),
    (0.66, 0.60, 0.48),
)
_ROAD = ((0.30, 0.30, 0.32), (0.38, 0.37, 0.36), (0.24, 0.25, 0.27))
_SIDEWALK = ((0.56, 0.56, 0.54), (0.66, 0.61, 0.52), (0.60, 0.46, 0.40), (0.46, 0.46, 0.46))
_VEGETATION = (
    (0.25, 0.45, 0.20),
    (0.16, 0.30, 0.16),
    (0.42, 0.46, 0.26),
    (0.58, 0.46, 0.22),
    (0.30, 0.40, 0.30),
)
_CAR = (
    (0.88, 0.88, 0.88),
    (0.64, 0.66, 0.70),
    (0.12, 0.12, 0.13),
    (0.70, 0.13, 0.10),
    (0.15, 0.25, 0.55),
    (0.20, 0.34, 0.25),
    (0.70, 0.64, 0.50),
    (0.40, 0.40, 0.42),
)
_PANTS = ((0.15, 0.18, 0.30), (0.10, 0.10, 0.10), (0.55, 0.50, 0.38), (0.35, 0.35, 0.36))
_POLE = ((0.45, 0.45, 0.45), (0.20, 0.20, 0.21), (0.22, 0.32, 0.26), (0.60, 0.60, 0.58))
_SIGN = ((0.80, 0.10, 0.10), (0.10, 0.25, 0.70), (0.90, 0.90, 0.90), (0.90, 0.75, 0.10))


@dataclass(frozen=True)
class _Street:
    """Perspective geometry of one scene: a straight street towards the vanishing point."""

    h: float
    w: float
    horizon: float  # y of the horizon and of the vanishing point
    vx: float  # x of the vanishing point
    road_left: float  # x of the road's left edge at the bottom row (depth 1)
    road_right: float
    walk_left: float  # x of the left sidewalk's outer edge at depth 1
    walk_right: float
    px_per_m: float  # pixels per metre at depth 1; at depth t it is t * px_per_m

    def ground_y(self, t: float) -> float:
        """Row of the ground at depth t in (0, 1] (1 = bottom row, 0 = horizon)."""
        return self.horizon + t * (self.h - self.horizon)

    def at_depth(self, x_bottom: float, t: float) -> float:
        """Column at depth t of the ground line through the vanishing point and ``x_bottom``."""
        return self.vx + t * (x_bottom - self.vx)

    def sidewalk_x(self, side: int, t: float, f: float) -> float:
        """Column on the left (side -1) or right (+1) sidewalk; f = 0 outer edge, 1 the curb."""
        outer, curb = (
            (self.walk_left, self.road_left) if side < 0 else (self.walk_right, self.road_right)
        )
        return self.at_depth(outer + f * (curb - outer), t)

    def road_x(self, t: float, f: float) -> float:
        """Column across the road at depth t; f = 0 left edge, 1 right edge."""
        return self.at_depth(self.road_left + f * (self.road_right - self.road_left), t)


def render_scene(
    rng: np.random.Generator, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    canvas = _Canvas(rng, height, width)
    street = _sample_street(rng, height, width)
    sky_horizon = _paint_sky(canvas, street)
    _paint_skyline(canvas, street, sky_horizon)
    _paint_ground(canvas, street)
    for side in (-1, 1):
        _paint_facades(canvas, street, side, sky_horizon)
    for obj in sorted(_place_objects(canvas, street), key=lambda o: o.t):  # far ones first
        obj.draw(canvas, street)
    return _finish(canvas), canvas.lab


def _sample_street(rng: np.random.Generator, height: int, width: int) -> _Street:
    h, w = float(height), float(width)
    vx = w * rng.uniform(0.3, 0.7)
    road_left = vx - w * rng.uniform(0.35, 0.8)
    road_right = vx + w * rng.uniform(0.35, 0.8)
    return _Street(
        h=h,
        w=w,
        horizon=h * rng.uniform(0.32, 0.5),
        vx=vx,
        road_left=road_left,
        road_right=road_right,
        walk_left=road_left - w * rng.uniform(0.25, 0.7),
        walk_right=road_right + w * rng.uniform(0.25, 0.7),
        px_per_m=(road_right - road_left) / rng.uniform(8.0, 12.0),
    )


def _paint_sky(canvas: _Canvas, street: _Street) -> _RGB:
    rng = canvas.rng
    top, horizon = _SKY_TOP_HORIZON[int(rng.integers(len(_SKY_TOP_HORIZON)))]
    top_c = np.clip(np.asarray(top, np.float32) + rng.normal(0, 0.05, 3), 0, 1)
    hor_c = np.clip(np.asarray(horizon, np.float32) + rng.normal(0, 0.04, 3), 0, 1)
    frac = np.clip(canvas.y / street.horizon, 0.0, 1.0)[None]  # (1, H, 1) vertical gradient
    field = top_c[:, None, None] * (1 - frac) + hor_c[:, None, None] * frac
    cloudiness = rng.uniform(-0.5, 1.5)  # threshold on the coarse noise: low = many clouds
    clouds = np.clip((canvas.coarse - cloudiness) * 1.5, 0.0, 1.0)[None]
    cloud_c = np.float32(rng.uniform(0.75, 1.0)) * np.ones((3, 1, 1), np.float32)
    field = field * (1 - clouds) + cloud_c * clouds
    canvas.rgb[:] = field * (1.0 + 0.02 * canvas.fine)
    canvas.lab[:] = SKY
    return hor_c


def _paint_skyline(canvas: _Canvas, street: _Street, sky_horizon: _RGB) -> None:
    """Distant buildings on the horizon, hazy (tinted towards the sky colour)."""
    rng = canvas.rng
    x = -street.w * rng.uniform(0, 0.1)
    haze = rng.uniform(0.3, 0.7)
    while x < street.w:
        width = street.w * rng.uniform(0.04, 0.14)
        if rng.random() > 0.25:
            top = street.horizon - street.h * rng.uniform(0.03, 0.16)
            colour = (1 - haze) * _pick(rng, _BUILDING, 0.05) + haze * sky_horizon
            mask = canvas.rect(x, x + width, top, street.horizon + 1)
            canvas.paint(mask, BUILDING, colour, canvas.flat(0.03))
        x += width


def _paint_ground(canvas: _Canvas, street: _Street) -> None:
    """Lawn beyond the sidewalks, sidewalks with tile joints, asphalt with lane markings."""
    rng = canvas.rng
    y, x = canvas.y, canvas.x
    depth = np.maximum((y - street.horizon) / (street.h - street.horizon), 1e-3)  # (H, 1)
    ground = (y >= street.horizon) & np.ones_like(x, dtype=bool)
    lawn = _pick(rng, _VEGETATION[:3], 0.04)
    canvas.paint(ground, VEGETATION, lawn, 1.0 + 0.25 * canvas.medium + 0.08 * canvas.fine)

    def inside(left_bottom: float, right_bottom: float) -> np.ndarray:
        left = street.vx + depth * (left_bottom - street.vx)
        right = street.vx + depth * (right_bottom - street.vx)
        return np.asarray(ground & (x >= left) & (x <= right), dtype=bool)

    walk = inside(street.walk_left, street.walk_right)
    joints = np.abs(((1.0 / depth) * rng.uniform(1.5, 3.0)) % 1.0 - 0.5) > 0.42  # along depth
    tile = np.where(joints, 0.8, 1.0) + 0.05 * canvas.fine + 0.06 * canvas.medium
    canvas.paint(walk, SIDEWALK, _pick(rng, _SIDEWALK, 0.04), tile)

    road = inside(street.road_left, street.road_right)
    asphalt = 1.0 + 0.07 * canvas.fine + 0.12 * canvas.coarse
    canvas.paint(road, ROAD, _pick(rng, _ROAD, 0.04), asphalt)
    if rng.random() < 0.85:  # dashed centre line, dashes evenly spaced in distance (1 / depth)
        centre = street.road_x(1.0, rng.uniform(0.4, 0.6))
        half = np.maximum(depth * street.px_per_m * 0.12, 0.35)
        dashes = ((1.0 / depth) * rng.uniform(0.5, 1.2) + rng.random()) % 1.0 < 0.5
        line = road & (np.abs(x - (street.vx + depth * (centre - street.vx))) < half) & dashes
        paint = (0.85, 0.85, 0.80) if rng.random() < 0.7 else (0.85, 0.74, 0.30)
        canvas.paint(line, ROAD, np.asarray(paint, np.float32), canvas.flat())


def _paint_facades(canvas: _Canvas, street: _Street, side: int, sky_horizon: _RGB) -> None:
    """Buildings along one side of the street, with windows; gaps show lawn and sky."""
    rng = canvas.rng
    outer = street.walk_left if side < 0 else street.walk_right
    span = outer - street.vx  # signed
    d = (canvas.x - street.vx) / span  # (1, W): depth of the facade seen in each column
    d_edge = float(max(d.max(), 0.0))
    bottom = street.horizon + d * (street.h - street.horizon)  # facade meets the sidewalk here
    metres_up = (bottom - canvas.y) / np.maximum(d * street.px_per_m, 1e-3)  # (H, W)
    along = abs(span) / street.px_per_m / np.maximum(d, 1e-3)  # metres along the street
    d0 = rng.uniform(0.03, 0.08)
    while d0 < d_edge:
        d1 = d0 * rng.uniform(1.25, 1.9) + 0.02
        if rng.random() > 0.15:
            height_m = rng.uniform(7.0, 30.0)
            facade = (d >= d0) & (d < d1) & (metres_up >= 0) & (metres_up < height_m)
            colour = _pick(rng, _BUILDING, 0.05)
            side_light = rng.uniform(0.8, 1.1)
            canvas.paint(
                facade,
                BUILDING,
                colour * side_light,
                1.0 + 0.05 * canvas.medium + 0.04 * canvas.fine,
            )
            if rng.random() < 0.9:
                floor_m, bay_m = rng.uniform(2.8, 3.6), rng.uniform(2.0, 4.0)
                windows = (
                    facade
                    & (metres_up > rng.uniform(2.5, 4.0))
                    & (metres_up < height_m - 0.8)
                    & (np.abs((metres_up / floor_m) % 1.0 - 0.5) < rng.uniform(0.15, 0.3))
                    & (np.abs((along / bay_m) % 1.0 - 0.5) < rng.uniform(0.15, 0.3))
                )
                glass = rng.random()
                if glass < 0.5:
                    window_c = _pick(rng, ((0.14, 0.17, 0.22), (0.25, 0.27, 0.30)), 0.04)
                elif glass < 0.85:
                    window_c = np.clip(sky_horizon * rng.uniform(0.6, 0.95), 0, 1)
                else:
                    window_c = _pick(rng, ((0.90, 0.80, 0.50),), 0.05)
                canvas.paint(windows, None, window_c, 1.0 + 0.08 * canvas.medium)
            if rng.random() < 0.3:  # a hedge along the facade's foot
                hedge_m = rng.uniform(0.6, 1.5)
                hedge = (d >= d0) & (d < d1) & (metres_up >= 0) & (metres_up < hedge_m)
                canvas.paint(
                    hedge, VEGETATION, _pick(rng, _VEGETATION, 0.04), 1.0 + 0.3 * canvas.medium
                )
        d0 = d1


class _Object(Protocol):
    @property
    def t(self) -> float:
        """Depth in (0, 1]; objects are drawn far to near."""

    def draw(self, canvas: _Canvas, street: _Street) -> None: ...


def _place_objects(canvas: _Canvas, street: _Street) -> list[_Object]:
    """Cars, pedestrians, trees, poles and bins, with random parameters drawn now."""
    rng = canvas.rng
    objects: list[_Object] = []

    def spot(side: int, f_lo: float, f_hi: float, t_lo: float, t_hi: float) -> tuple[float, float]:
        """Depth and column on the road (side 0) or a sidewalk (-1, +1), inside the frame."""
        f = rng.uniform(f_lo, f_hi)
        for _ in range(8):  # a few tries to land inside the frame
            t = rng.uniform(t_lo, t_hi)
            x = street.road_x(t, f) if side == 0 else street.sidewalk_x(side, t, f)
            if 0.0 <= x < street.w:
                break
        return t, x

    def sidewalk() -> int:
        return -1 if rng.random() < 0.5 else 1

    n_cars = 0 if rng.random() < 0.04 else int(rng.integers(1, 5))
    for _ in range(n_cars):
        objects.append(_Car.sample(rng, *spot(0, 0.12, 0.88, 0.12, 0.95)))
    for _ in range(int(rng.integers(0, 4))):
        objects.append(_Pedestrian.sample(rng, *spot(sidewalk(), 0.15, 0.9, 0.15, 0.95)))
    for _ in range(int(rng.integers(0, 4))):
        objects.append(_Tree.sample(rng, *spot(sidewalk(), 0.05, 0.5, 0.1, 0.9)))
    for _ in range(int(rng.integers(0, 4))):
        side = sidewalk()
        objects.append(_Pole.sample(rng, *spot(side, 0.8, 0.97, 0.1, 0.95), towards_road=-side))
    for _ in range(int(rng.integers(0, 3))):
        objects.append(_Bin.sample(rng, *spot(sidewalk(), 0.1, 0.9, 0.15, 0.95)))
    return objects


@dataclass(frozen=True)
class _Car:
    """A car seen from behind: wheels, body, cabin, rear window, tail lights, shadow."""

    t: float
    x: float
    colour: _RGB
    glass: _RGB
    width_m: float
    body_m: float
    cabin_m: float

    @classmethod
    def sample(cls, rng: np.random.Generator, t: float, x: float) -> _Car:
        return cls(
            t=t,
            x=x,
            colour=_pick(rng, _CAR, 0.05),
            glass=_pick(rng, ((0.10, 0.12, 0.15), (0.30, 0.35, 0.42)), 0.04),
            width_m=rng.uniform(1.7, 2.0),
            body_m=rng.uniform(0.55, 1.0),
            cabin_m=rng.uniform(0.45, 0.65),
        )

    def draw(self, canvas: _Canvas, street: _Street) -> None:
        m = self.t * street.px_per_m
        x, base = self.x, street.ground_y(self.t)
        half = 0.5 * self.width_m * m
        body_top = base - (0.3 + self.body_m) * m
        cabin_top = body_top - self.cabin_m * m
        shadow = canvas.rect(x - 1.05 * half, x + 1.05 * half, base - 0.1 * m, base + 0.12 * m)
        shadow &= canvas.lab == ROAD
        canvas.rgb[:, shadow] *= 0.45
        gloss = 1.0 + 0.12 * np.clip((body_top + 0.3 * m - canvas.y) / max(m, 1.0), -1, 1)
        gloss = gloss + 0.03 * canvas.fine
        tyre_c = np.asarray((0.06, 0.06, 0.06), np.float32)
        for wx in (x - 0.7 * half, x + 0.7 * half):
            tyre = canvas.rect(wx - 0.2 * m, wx + 0.2 * m, base - 0.55 * m, base)
            canvas.paint(tyre, CAR, tyre_c, canvas.flat())
        body = canvas.rect(x - half, x + half, body_top, base - 0.2 * m)
        canvas.paint(body, CAR, self.colour, gloss)
        cabin = canvas.trapezoid(x, cabin_top, body_top + 0.5, 0.65 * half, 0.88 * half)
        canvas.paint(cabin, CAR, self.colour, gloss)
        glass = canvas.trapezoid(x, cabin_top + 0.12 * m, body_top, 0.55 * half, 0.78 * half)
        canvas.paint(glass, CAR, self.glass, 1.0 + 0.1 * canvas.medium)
        light_c = np.asarray((0.8, 0.1, 0.08), np.float32)
        for lx in (x - 0.85 * half, x + 0.85 * half):
            light = canvas.rect(lx - 0.1 * m, lx + 0.1 * m, body_top + 0.15 * m, body_top + 0.3 * m)
            canvas.paint(light, CAR, light_c, canvas.flat())


@dataclass(frozen=True)
class _Pedestrian:
    """Legs, torso and head."""

    t: float
    x: float
    height_m: float
    shirt: _RGB
    pants: _RGB
    skin: _RGB
    stride: float

    @classmethod
    def sample(cls, rng: np.random.Generator, t: float, x: float) -> _Pedestrian:
        return cls(
            t=t,
            x=x,
            height_m=rng.uniform(1.5, 1.9),
            shirt=rng.uniform(0.1, 0.9, 3).astype(np.float32),
            pants=_pick(rng, _PANTS, 0.04),
            skin=(np.asarray((0.85, 0.65, 0.50)) * rng.uniform(0.45, 1.05)).astype(np.float32),
            stride=rng.uniform(0.0, 0.12),
        )

    def draw(self, canvas: _Canvas, street: _Street) -> None:
        h = self.height_m * self.t * street.px_per_m
        x, base = self.x, street.ground_y(self.t)
        stride = self.stride * h
        for lx in (x - 0.06 * h - stride, x + 0.06 * h + stride):
            leg = canvas.trapezoid(lx, base - 0.48 * h, base, 0.05 * h, 0.04 * h)
            canvas.paint(leg, PEDESTRIAN, self.pants, canvas.flat())
        torso = canvas.trapezoid(x, base - 0.82 * h, base - 0.45 * h, 0.12 * h, 0.15 * h)
        canvas.paint(torso, PEDESTRIAN, self.shirt, canvas.flat())
        head = canvas.ellipse(x, base - 0.9 * h, 0.065 * h, 0.08 * h)
        canvas.paint(head, PEDESTRIAN, self.skin, canvas.flat())


@dataclass(frozen=True)
class _Tree:
    """A trunk and a crown of overlapping round blobs (both vegetation)."""

    t: float
    x: float
    trunk_m: float
    crown_m: float
    blobs: np.ndarray  # (n, 3): x offset, y offset, radius change, in units of the crown radius
    leaves: _RGB
    bark: _RGB

    @classmethod
    def sample(cls, rng: np.random.Generator, t: float, x: float) -> _Tree:
        return cls(
            t=t,
            x=x,
            trunk_m=rng.uniform(1.8, 3.5),
            crown_m=rng.uniform(1.3, 2.5),
            blobs=rng.normal(0.0, 1.0, (int(rng.integers(3, 6)), 3)),
            leaves=_pick(rng, _VEGETATION, 0.04),
            bark=_pick(rng, ((0.30, 0.22, 0.15), (0.25, 0.25, 0.22)), 0.03),
        )

    def draw(self, canvas: _Canvas, street: _Street) -> None:
        m = self.t * street.px_per_m
        x, base = self.x, street.ground_y(self.t)
        trunk_top = base - self.trunk_m * m
        trunk = canvas.rect(x - 0.15 * m, x + 0.15 * m, trunk_top, base)
        canvas.paint(trunk, VEGETATION, self.bark, canvas.flat(0.06))
        r = self.crown_m * m
        crown = np.zeros((canvas.h, canvas.w), dtype=bool)
        for dx, dy, dr in self.blobs:
            rb = r * (0.75 + 0.15 * float(np.clip(dr, -1.5, 1.5)))
            crown |= canvas.ellipse(x + 0.55 * r * dx, trunk_top - 0.4 * r + 0.35 * r * dy, rb, rb)
        leafy = 1.0 + 0.3 * canvas.medium + 0.12 * canvas.fine
        canvas.paint(crown, VEGETATION, self.leaves, leafy)


@dataclass(frozen=True)
class _Pole:
    """A pole, maybe with a lamp arm over the road and a traffic sign (unlabeled)."""

    t: float
    x: float
    towards_road: int
    height_m: float
    colour: _RGB
    has_lamp: bool
    has_sign: bool
    sign_colour: _RGB

    @classmethod
    def sample(cls, rng: np.random.Generator, t: float, x: float, *, towards_road: int) -> _Pole:
        return cls(
            t=t,
            x=x,
            towards_road=towards_road,
            height_m=rng.uniform(4.5, 8.0),
            colour=_pick(rng, _POLE, 0.04),
            has_lamp=bool(rng.random() < 0.4),
            has_sign=bool(rng.random() < 0.45),
            sign_colour=_pick(rng, _SIGN, 0.05),
        )

    def draw(self, canvas: _Canvas, street: _Street) -> None:
        m = self.t * street.px_per_m
        x, base = self.x, street.ground_y(self.t)
        top = base - self.height_m * m
        pole = canvas.rect(x - 0.08 * m, x + 0.08 * m, top, base)
        canvas.paint(pole, POLE, self.colour, canvas.flat())
        if self.has_lamp:
            x_end = x + self.towards_road * 1.3 * m
            arm = canvas.rect(min(x, x_end), max(x, x_end), top, top + 0.12 * m)
            canvas.paint(arm, POLE, self.colour, canvas.flat())
        if self.has_sign:  # traffic signs are not one of the classes: unlabeled
            sign = canvas.rect(x - 0.35 * m, x + 0.35 * m, base - 2.9 * m, base - 2.2 * m)
            canvas.paint(sign, UNLABELED, self.sign_colour, canvas.flat())


@dataclass(frozen=True)
class _Bin:
    """A box on the sidewalk (an "other" object: unlabeled)."""

    t: float
    x: float
    colour: _RGB
    size: float

    @classmethod
    def sample(cls, rng: np.random.Generator, t: float, x: float) -> _Bin:
        colour = rng.uniform(0.1, 0.9, 3).astype(np.float32)
        return cls(t=t, x=x, colour=colour, size=rng.uniform(0.5, 1.0))

    def draw(self, canvas: _Canvas, street: _Street) -> None:
        m = self.t * street.px_per_m * self.size
        base = street.ground_y(self.t)
        box = canvas.rect(self.x - 0.35 * m, self.x + 0.35 * m, base - 1.0 * m, base)
        canvas.paint(box, UNLABELED, self.colour, canvas.flat(0.05))


def _finish(canvas: _Canvas) -> np.ndarray:
    """Illumination, colour cast, gamma, blur and sensor noise."""
    rng = canvas.rng
    brightness = rng.uniform(0.75, 1.2)
    cast = np.exp(rng.normal(0.0, 0.04, 3)).astype(np.float32)[:, None, None]
    gamma = rng.uniform(0.85, 1.15)
    blur = rng.uniform(0.3, 0.7) * max(1.0, canvas.px**0.5)
    noise = rng.uniform(0.01, 0.04)
    img = np.clip(canvas.rgb * np.float32(brightness) * cast, 0.0, 1.0) ** np.float32(gamma)
    img = gaussian_filter(img, sigma=(0.0, blur, blur), mode="nearest")
    img += rng.normal(0.0, noise, img.shape).astype(np.float32)
    return np.asarray(np.clip(img, 0.0, 1.0), dtype=np.float32)
