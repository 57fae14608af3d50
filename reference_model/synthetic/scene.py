"""Street-scene layouts: a seeded composition of stuff regions and overlapping thing instances.

A scene is drawn back to front (painter's algorithm) into one int32 map with the Cityscapes
`*_instanceIds.png` encoding: a thing instance is `label_id * 1000 + k`, stuff and crowd
groups carry the bare label id, void pixels carry a void label id (0, 1, 4 or 10).
The layout mimics a street seen from a car: sky, buildings converging to a vanishing point,
sidewalks and road below the horizon, poles with signs and lights, trees, walls and fences,
and vehicles and people scaled by their distance, occluding each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from .classes import (
    BY_NAME,
    CLASSES,
    EGO_VEHICLE,
    INSTANCE_DIVISOR,
    RAIL_TRACK,
    STATIC,
    UNLABELED,
    SceneClass,
)

Point = tuple[float, float]

# Height of each thing class as a fraction of the image height at the bottom row (distance 1),
# and its width-to-height ratio; roughly the proportions of a dash-cam view.
_THING_SHAPE: dict[str, tuple[float, float]] = {
    "person": (0.42, 0.38),
    "rider": (0.45, 0.40),
    "car": (0.34, 1.9),
    "truck": (0.55, 1.5),
    "bus": (0.62, 2.3),
    "train": (0.60, 3.6),
    "motorcycle": (0.30, 1.4),
    "bicycle": (0.28, 1.5),
}
# Relative frequency of thing classes in a scene (trains are placed separately, on rails).
_THING_WEIGHTS: dict[str, float] = {
    "car": 0.36,
    "person": 0.24,
    "bicycle": 0.09,
    "motorcycle": 0.07,
    "truck": 0.08,
    "bus": 0.06,
    "rider": 0.10,
}


@dataclass
class Scene:
    """A drawn layout: the instance-id map and a colour tint per segment id."""

    ids: np.ndarray  # (H, W) int32, Cityscapes instanceIds encoding
    tints: dict[int, tuple[float, float, float]] = field(default_factory=dict)


class _Canvas:
    """An int32 label canvas with PIL drawing primitives, plus instance bookkeeping."""

    def __init__(self, height: int, width: int, rng: np.random.Generator) -> None:
        self.height, self.width, self.rng = height, width, rng
        self.image = Image.new("I", (width, height), UNLABELED)
        self.draw = ImageDraw.Draw(self.image)
        self.tints: dict[int, tuple[float, float, float]] = {}
        self._next_instance: dict[int, int] = {}

    def new_instance(self, cls: SceneClass) -> int:
        k = self._next_instance.get(cls.label_id, 0)
        self._next_instance[cls.label_id] = k + 1
        value = cls.label_id * INSTANCE_DIVISOR + k
        red, green, blue = (float(t) for t in self.rng.normal(0.0, 22.0, size=3))
        self.tints[value] = (red, green, blue)
        return value

    def polygon(self, points: Sequence[Point], value: int) -> None:
        self.draw.polygon([(float(x), float(y)) for x, y in points], fill=value)

    def rect(self, x0: float, y0: float, x1: float, y1: float, value: int) -> None:
        if x1 - x0 < 0.5 or y1 - y0 < 0.5:
            return
        self.draw.rectangle([x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)], fill=value)

    def ellipse(self, x0: float, y0: float, x1: float, y1: float, value: int) -> None:
        if x1 - x0 < 1 or y1 - y0 < 1:
            return
        self.draw.ellipse([x0, y0, x1, y1], fill=value)

    def line(self, points: Sequence[Point], value: int, width: float) -> None:
        self.draw.line(
            [(float(x), float(y)) for x, y in points], fill=value, width=max(1, round(width))
        )

    def ids(self) -> np.ndarray:
        return np.asarray(self.image, dtype=np.int32).copy()


@dataclass(frozen=True)
class _Geometry:
    """Where the ground is: horizon row, vanishing point and the road's bottom edge."""

    horizon: float
    vp_x: float
    road_left: float  # x of the road's left edge at the bottom row
    road_right: float
    base_left: float  # y where the left building line meets x = 0
    base_right: float  # y where the right building line meets x = width

    def ground_y(self, x: float, width: float) -> float:
        """The building base line (sidewalk's outer edge) at column x."""
        if x <= self.vp_x:
            t = (self.vp_x - x) / max(self.vp_x, 1.0)
            return self.horizon + t * (self.base_left - self.horizon)
        t = (x - self.vp_x) / max(width - self.vp_x, 1.0)
        return self.horizon + t * (self.base_right - self.horizon)

    def road_span(self, y: float, height: float) -> tuple[float, float]:
        """The road's left and right x at row y (below the horizon)."""
        t = (y - self.horizon) / max(height - self.horizon, 1.0)
        return self.vp_x + t * (self.road_left - self.vp_x), self.vp_x + t * (
            self.road_right - self.vp_x
        )


def compose_scene(
    rng: np.random.Generator, height: int, width: int, forced: SceneClass | None = None
) -> Scene:
    """Draw one street scene; `forced` names a class that must appear in it."""
    if height < 32 or width < 32:
        raise ValueError(f"scene size must be at least 32x32 pixels, got {height}x{width}")
    canvas = _Canvas(height, width, rng)
    geo = _draw_background(canvas, forced)
    _draw_street_furniture(canvas, geo, forced)
    _draw_things(canvas, geo, forced)
    _draw_void(canvas)
    return Scene(ids=canvas.ids(), tints=canvas.tints)


def _wants(canvas: _Canvas, name: str, probability: float, forced: SceneClass | None) -> bool:
    return (forced is not None and forced.name == name) or bool(canvas.rng.random() < probability)


def _draw_background(canvas: _Canvas, forced: SceneClass | None) -> _Geometry:
    h, w, rng = canvas.height, canvas.width, canvas.rng
    horizon = h * rng.uniform(0.36, 0.46)
    vp_x = w * rng.uniform(0.38, 0.62)
    geo = _Geometry(
        horizon=horizon,
        vp_x=vp_x,
        road_left=w * rng.uniform(-0.05, 0.22),
        road_right=w * rng.uniform(0.78, 1.05),
        base_left=h * rng.uniform(0.58, 0.72),
        base_right=h * rng.uniform(0.58, 0.72),
    )
    sky, building = BY_NAME["sky"].label_id, BY_NAME["building"].label_id
    canvas.rect(0, 0, w, h, sky)
    for side in (-1, 1):
        if _wants(canvas, "building", 0.92, forced):
            _draw_buildings(canvas, geo, side, building)
    # Ground: sidewalk below the building base line, an optional terrain strip, then the road.
    sidewalk = BY_NAME["sidewalk"].label_id
    ground = [
        (0.0, geo.base_left),
        (vp_x, horizon),
        (float(w), geo.base_right),
        (float(w), float(h)),
        (0.0, float(h)),
    ]
    canvas.polygon(ground, sidewalk)
    if _wants(canvas, "terrain", 0.45, forced):
        side = -1 if rng.random() < 0.5 else 1
        _draw_band(
            canvas,
            geo,
            side,
            0.0,
            rng.uniform(0.05, 0.12) * h,
            BY_NAME["terrain"].label_id,
            below=True,
        )
    road = BY_NAME["road"].label_id
    canvas.polygon(
        [
            (geo.road_left, float(h)),
            (vp_x - 0.01 * w, horizon),
            (vp_x + 0.01 * w, horizon),
            (geo.road_right, float(h)),
        ],
        road,
    )
    return geo


def _draw_buildings(canvas: _Canvas, geo: _Geometry, side: int, value: int) -> None:
    """Blocks along one side of the street, their tops converging to the vanishing point."""
    h, w, rng = canvas.height, canvas.width, canvas.rng
    x = 0.0 if side < 0 else float(w)
    end = geo.vp_x - 0.04 * w if side < 0 else geo.vp_x + 0.04 * w
    while (x < end) if side < 0 else (x > end):
        step = w * rng.uniform(0.07, 0.2)
        x_next = min(x + step, end) if side < 0 else max(x - step, end)
        top = h * rng.uniform(-0.1, 0.25)

        def top_at(xx: float, top: float = top) -> float:
            span = geo.vp_x if side < 0 else w - geo.vp_x
            t = abs(geo.vp_x - xx) / max(span, 1.0)
            return geo.horizon - t * (geo.horizon - top) - (1 - t) * 0.04 * h

        canvas.polygon(
            [
                (x, top_at(x)),
                (x_next, top_at(x_next)),
                (x_next, geo.ground_y(x_next, w)),
                (x, geo.ground_y(x, w)),
            ],
            value,
        )
        x = x_next


def _draw_band(
    canvas: _Canvas,
    geo: _Geometry,
    side: int,
    offset: float,
    thickness: float,
    value: int,
    *,
    below: bool = False,
    x_range: tuple[float, float] | None = None,
) -> None:
    """A strip following the building base line on one side (walls, fences, terrain)."""
    w = canvas.width
    x0, x1 = x_range if x_range is not None else ((0.0, geo.vp_x) if side < 0 else (geo.vp_x, w))
    xs = (x0, x1)

    def scale(x: float) -> float:
        span = geo.vp_x if side < 0 else w - geo.vp_x
        return 0.15 + 0.85 * abs(geo.vp_x - x) / max(span, 1.0)

    sign = 1.0 if below else -1.0
    pts_base = [(x, geo.ground_y(x, w) + sign * offset * scale(x)) for x in xs]
    pts_top = [(x, y + sign * thickness * scale(x)) for x, y in pts_base]
    canvas.polygon([*pts_base, *reversed(pts_top)], value)


def _draw_street_furniture(canvas: _Canvas, geo: _Geometry, forced: SceneClass | None) -> None:
    h, w, rng = canvas.height, canvas.width, canvas.rng
    if _wants(canvas, "wall", 0.35, forced):
        side = -1 if rng.random() < 0.5 else 1
        x_a, x_b = (0.0, geo.vp_x * 0.8) if side < 0 else (geo.vp_x + (w - geo.vp_x) * 0.2, w)
        _draw_band(
            canvas,
            geo,
            side,
            0.0,
            rng.uniform(0.06, 0.12) * h,
            BY_NAME["wall"].label_id,
            x_range=(x_a, x_b),
        )
    if _wants(canvas, "fence", 0.35, forced):
        side = -1 if rng.random() < 0.5 else 1
        x_a, x_b = (0.0, geo.vp_x * 0.7) if side < 0 else (geo.vp_x + (w - geo.vp_x) * 0.3, w)
        _draw_band(
            canvas,
            geo,
            side,
            0.01 * h,
            rng.uniform(0.05, 0.1) * h,
            BY_NAME["fence"].label_id,
            below=True,
            x_range=(x_a, x_b),
        )
    if _wants(canvas, "vegetation", 0.7, forced):
        for _ in range(rng.integers(1, 5)):
            _draw_tree(canvas, geo)
    n_poles = int(rng.integers(0, 4))
    want_sign = _wants(canvas, "traffic sign", 0.55, forced)
    want_light = _wants(canvas, "traffic light", 0.45, forced)
    if _wants(canvas, "pole", 0.0, forced) or want_sign or want_light:
        n_poles = max(n_poles, 1 + int(want_sign and want_light))
    for i in range(n_poles):
        attach = "sign" if (want_sign and i == 0) else "light" if (want_light and i <= 1) else ""
        attach = attach or ("sign" if rng.random() < 0.3 else "")
        _draw_pole(canvas, geo, attach)


def _draw_tree(canvas: _Canvas, geo: _Geometry) -> None:
    h, w, rng = canvas.height, canvas.width, canvas.rng
    x = rng.uniform(0.0, w)
    base = geo.ground_y(x, w) + rng.uniform(0.0, 0.05) * h
    size = max(4.0, (base - geo.horizon) / max(h - geo.horizon, 1.0) * h * rng.uniform(0.5, 0.9))
    value = BY_NAME["vegetation"].label_id
    canvas.rect(x - size * 0.05, base - size * 0.55, x + size * 0.05, base, value)
    canvas.ellipse(x - size * 0.35, base - size * 1.2, x + size * 0.35, base - size * 0.45, value)


def _draw_pole(canvas: _Canvas, geo: _Geometry, attach: str) -> None:
    h, w, rng = canvas.height, canvas.width, canvas.rng
    side = -1 if rng.random() < 0.5 else 1
    y_base = rng.uniform(geo.horizon + 0.12 * (h - geo.horizon), h * 0.98)
    road_l, road_r = geo.road_span(y_base, h)
    x = road_l - rng.uniform(2.0, 0.06 * w) if side < 0 else road_r + rng.uniform(2.0, 0.06 * w)
    scale = (y_base - geo.horizon) / max(h - geo.horizon, 1.0)
    length = h * 0.75 * scale + 6.0
    thick = max(1.5, 0.012 * w * scale)
    canvas.rect(x - thick / 2, y_base - length, x + thick / 2, y_base, BY_NAME["pole"].label_id)
    top = y_base - length
    size = max(4.0, 0.06 * h * (0.4 + scale))
    if attach == "sign":
        value = BY_NAME["traffic sign"].label_id
        kind = rng.integers(0, 3)
        if kind == 0:
            canvas.ellipse(x - size / 2, top, x + size / 2, top + size, value)
        elif kind == 1:
            canvas.polygon(
                [(x - size / 2, top + size), (x + size / 2, top + size), (x, top)], value
            )
        else:
            canvas.rect(x - size / 2, top, x + size / 2, top + size * 0.8, value)
    elif attach == "light":
        canvas.rect(
            x - size * 0.3, top, x + size * 0.3, top + size * 1.3, BY_NAME["traffic light"].label_id
        )


def _draw_things(canvas: _Canvas, geo: _Geometry, forced: SceneClass | None) -> None:
    h, rng = canvas.height, canvas.rng
    names = list(_THING_WEIGHTS)
    weights = np.array([_THING_WEIGHTS[n] for n in names])
    chosen = list(rng.choice(names, size=int(rng.integers(2, 11)), p=weights / weights.sum()))
    if forced is not None and forced.isthing and forced.name != "train":
        chosen.append(forced.name)
    placed: list[tuple[float, str]] = [(_thing_bottom(rng, geo, h), n) for n in chosen]
    if _wants(canvas, "train", 0.04, forced):
        _draw_train(canvas, geo)
    if rng.random() < 0.25:
        placed.append((_thing_bottom(rng, geo, h, far=True), "crowd"))
    for y_bottom, name in sorted(placed):  # far first: near things occlude far ones
        if name == "crowd":
            _draw_crowd(canvas, geo, y_bottom)
        else:
            _draw_thing(canvas, geo, BY_NAME[name], y_bottom)


def _thing_bottom(rng: np.random.Generator, geo: _Geometry, h: int, *, far: bool = False) -> float:
    lo, hi = (0.08, 0.45) if far else (0.12, 1.0)
    depth: float = float(rng.uniform(lo, hi)) ** 0.8  # float ** float is Any in typeshed
    return geo.horizon + (h - geo.horizon) * depth


def _thing_x(canvas: _Canvas, geo: _Geometry, name: str, y_bottom: float, width: float) -> float:
    road_l, road_r = geo.road_span(y_bottom, canvas.height)
    rng = canvas.rng
    if name == "person" and rng.random() < 0.8:  # pedestrians mostly on the sidewalks
        if rng.random() < 0.5:
            return float(rng.uniform(road_l - 0.25 * canvas.width, road_l))
        return float(rng.uniform(road_r, road_r + 0.25 * canvas.width))
    return float(
        rng.uniform(road_l + width * 0.3, max(road_l + width * 0.3 + 1, road_r - width * 0.3))
    )


def _draw_thing(canvas: _Canvas, geo: _Geometry, cls: SceneClass, y_bottom: float) -> None:
    h = canvas.height
    scale = (y_bottom - geo.horizon) / max(h - geo.horizon, 1.0)
    rel_h, aspect = _THING_SHAPE[cls.name]
    oh = rel_h * h * scale * canvas.rng.uniform(0.85, 1.15)
    if oh < 6:
        return
    ow = oh * aspect * canvas.rng.uniform(0.85, 1.15)
    cx = _thing_x(canvas, geo, cls.name, y_bottom, ow)
    if cls.name == "rider":
        vehicle = BY_NAME["bicycle" if canvas.rng.random() < 0.5 else "motorcycle"]
        vw, vh = oh * 0.55 * 1.5, oh * 0.55
        _shape(canvas, vehicle.name, cx, y_bottom, vw, vh, canvas.new_instance(vehicle))
        _shape(
            canvas, "person", cx, y_bottom - vh * 0.45, oh * 0.3, oh * 0.6, canvas.new_instance(cls)
        )
        return
    _shape(canvas, cls.name, cx, y_bottom, ow, oh, canvas.new_instance(cls))


def _shape(canvas: _Canvas, name: str, cx: float, yb: float, ow: float, oh: float, v: int) -> None:
    """The silhouette of one thing, its bottom centre at (cx, yb)."""
    x0, x1, y0 = cx - ow / 2, cx + ow / 2, yb - oh
    if name == "person":
        head = oh * 0.16
        canvas.ellipse(cx - head / 2, y0, cx + head / 2, y0 + head, v)
        canvas.rect(cx - ow / 2, y0 + head * 0.9, cx + ow / 2, y0 + oh * 0.58, v)
        leg = ow * 0.32
        canvas.rect(cx - ow * 0.42, y0 + oh * 0.55, cx - ow * 0.42 + leg, yb, v)
        canvas.rect(cx + ow * 0.42 - leg, y0 + oh * 0.55, cx + ow * 0.42, yb, v)
    elif name == "car":
        canvas.rect(x0, y0 + oh * 0.4, x1, yb - oh * 0.08, v)
        canvas.polygon(
            [
                (x0 + ow * 0.18, y0 + oh * 0.42),
                (x0 + ow * 0.3, y0),
                (x1 - ow * 0.25, y0),
                (x1 - ow * 0.12, y0 + oh * 0.42),
            ],
            v,
        )
        _wheels(canvas, x0, x1, yb, oh * 0.3, v)
    elif name in ("truck", "bus"):
        cab = ow * (0.28 if name == "truck" else 0.0)
        canvas.rect(x0 + cab, y0, x1, yb - oh * 0.08, v)
        if cab:
            canvas.rect(x0, y0 + oh * 0.3, x0 + cab + 1, yb - oh * 0.08, v)
        _wheels(canvas, x0, x1, yb, oh * 0.2, v)
    elif name in ("bicycle", "motorcycle"):
        r = oh * 0.36
        width = max(1.0, oh * (0.09 if name == "bicycle" else 0.14))
        for wx in (x0 + r, x1 - r):
            canvas.draw.ellipse([wx - r, yb - 2 * r, wx + r, yb], outline=v, width=round(width))
        frame = [(x0 + r, yb - r), (cx, y0 + oh * 0.3), (x1 - r, yb - r), (x0 + r, yb - r)]
        canvas.line(frame, v, width)
        if name == "motorcycle":
            canvas.ellipse(cx - ow * 0.25, y0 + oh * 0.15, cx + ow * 0.25, yb - r * 0.6, v)
        canvas.line([(cx, y0 + oh * 0.3), (x1 - r * 0.8, y0)], v, width)


def _wheels(canvas: _Canvas, x0: float, x1: float, yb: float, d: float, v: int) -> None:
    w = x1 - x0
    for wx in (x0 + w * 0.2, x1 - w * 0.2):
        canvas.ellipse(wx - d / 2, yb - d, wx + d / 2, yb, v)


def _draw_train(canvas: _Canvas, geo: _Geometry) -> None:
    h, w, rng = canvas.height, canvas.width, canvas.rng
    y_bottom = geo.horizon + (h - geo.horizon) * rng.uniform(0.25, 0.6)
    scale = (y_bottom - geo.horizon) / max(h - geo.horizon, 1.0)
    oh = _THING_SHAPE["train"][0] * h * scale
    ow = min(oh * _THING_SHAPE["train"][1], 0.9 * w)
    cx = rng.uniform(ow / 2, max(ow / 2 + 1, w - ow / 2))
    canvas.rect(0, y_bottom - 0.02 * h * scale - 2, w, y_bottom + 0.02 * h * scale + 2, RAIL_TRACK)
    canvas.rect(
        cx - ow / 2, y_bottom - oh, cx + ow / 2, y_bottom, canvas.new_instance(BY_NAME["train"])
    )


def _draw_crowd(canvas: _Canvas, geo: _Geometry, y_bottom: float) -> None:
    """A crowd region: overlapping people (or parked cars) sharing one id below 1000."""
    rng, h = canvas.rng, canvas.height
    cls = BY_NAME["person" if rng.random() < 0.7 else "car"]
    scale = (y_bottom - geo.horizon) / max(h - geo.horizon, 1.0)
    rel_h, aspect = _THING_SHAPE[cls.name]
    oh = rel_h * h * scale
    if oh < 6:
        return
    ow = oh * aspect
    cx = _thing_x(canvas, geo, cls.name, y_bottom, ow * 3)
    for i in range(int(rng.integers(3, 7))):
        _shape(
            canvas,
            cls.name,
            cx + (i - 2) * ow * 0.55,
            y_bottom + rng.uniform(-2, 2),
            ow,
            oh,
            cls.label_id,
        )


def _draw_void(canvas: _Canvas) -> None:
    h, w, rng = canvas.height, canvas.width, canvas.rng
    if rng.random() < 0.3:  # the bonnet of the recording car
        canvas.ellipse(-0.1 * w, h * rng.uniform(0.88, 0.95), 1.1 * w, h * 1.3, EGO_VEHICLE)
    for _ in range(int(rng.integers(0, 3))):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(0.01, 0.04) * min(h, w) + 1
        canvas.ellipse(x - r, y - r, x + r, y + r, STATIC if rng.random() < 0.5 else UNLABELED)


def class_of(ids: np.ndarray) -> np.ndarray:
    """Cityscapes label ids of an instanceIds map: `id // 1000` for instances, the id otherwise."""
    return np.where(ids >= INSTANCE_DIVISOR, ids // INSTANCE_DIVISOR, ids)


__all__ = ["CLASSES", "Scene", "class_of", "compose_scene"]
