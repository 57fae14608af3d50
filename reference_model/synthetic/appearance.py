"""How each class looks: a base colour, a texture and per-instance tints, rendered to RGB.

Every class gets its own colour and texture statistics so that a small network can tell
them apart on a CPU, yet not by colour alone: grey building, wall and pole differ by
texture (windows, bricks, none), vegetation is speckled, the sky a gradient, a fence a
lattice. Thing instances get a random tint and a dark outline, so touching instances of one
class stay separable, as in real images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .classes import EGO_VEHICLE, INSTANCE_DIVISOR, RAIL_TRACK, STATIC, UNLABELED


@dataclass(frozen=True)
class Look:
    """Base colour (RGB), texture kind, texture period in pixels (at 512 wide) and strength."""

    color: tuple[int, int, int]
    texture: str
    period: float = 8.0
    strength: float = 20.0


LOOKS: dict[int, Look] = {
    7: Look((110, 100, 115), "blotch", 24.0, 10.0),  # road: smooth asphalt
    8: Look((200, 150, 190), "hstripes", 6.0, 18.0),  # sidewalk: paving rows
    11: Look((105, 95, 85), "grid", 10.0, 40.0),  # building: windows
    12: Look((150, 140, 175), "bricks", 6.0, 25.0),  # wall: bricks
    13: Look((190, 160, 140), "lattice", 5.0, 55.0),  # fence: lattice
    17: Look((140, 140, 140), "vstripes", 3.0, 12.0),  # pole: plain metal
    19: Look((60, 60, 45), "dots", 5.0, 70.0),  # traffic light: dark box with lamps
    20: Look((235, 215, 40), "flat", 8.0, 6.0),  # traffic sign: bright plate
    21: Look((70, 135, 40), "speckle", 3.0, 35.0),  # vegetation: leaves
    22: Look((150, 205, 120), "blotch", 10.0, 22.0),  # terrain: grass patches
    23: Look((120, 170, 225), "gradient", 1.0, 40.0),  # sky
    24: Look((215, 60, 70), "flat", 8.0, 8.0),  # person
    25: Look((240, 40, 20), "hstripes", 4.0, 20.0),  # rider
    26: Look((30, 40, 160), "flat", 8.0, 10.0),  # car
    27: Look((30, 50, 90), "vstripes", 8.0, 18.0),  # truck
    28: Look((20, 110, 140), "grid", 7.0, 30.0),  # bus: windows
    31: Look((40, 120, 110), "hstripes", 10.0, 25.0),  # train
    32: Look((60, 40, 235), "speckle", 2.0, 20.0),  # motorcycle
    33: Look((150, 30, 60), "flat", 8.0, 10.0),  # bicycle
    UNLABELED: Look((90, 80, 70), "speckle", 4.0, 40.0),
    EGO_VEHICLE: Look((25, 25, 30), "gradient", 1.0, 15.0),
    STATIC: Look((130, 110, 80), "bricks", 4.0, 30.0),
    RAIL_TRACK: Look((120, 90, 70), "vstripes", 4.0, 40.0),
}


def _texture(
    kind: str, y: np.ndarray, x: np.ndarray, period: float, h: int, smooth: np.ndarray
) -> np.ndarray:
    """A texture in [-1, 1] evaluated at pixel coordinates (y, x)."""
    p = max(period, 1.0)
    if kind == "flat":
        return np.zeros(y.shape, dtype=np.float32)
    if kind == "hstripes":
        return np.sign(np.sin(y * (2 * np.pi / p))).astype(np.float32)
    if kind == "vstripes":
        return np.sign(np.sin(x * (2 * np.pi / p))).astype(np.float32)
    if kind == "grid":
        return np.where(((x // p) % 2 == 1) & ((y // p) % 2 == 1), -1.0, 0.4).astype(np.float32)
    if kind == "bricks":
        row = y // p
        mortar = ((y % p) < 1) | (((x + (row % 2) * p) % (2 * p)) < 1)
        return np.where(mortar, 1.0, -0.2).astype(np.float32)
    if kind == "lattice":
        d1, d2 = (x + y) % p, (x - y) % p
        return np.where((d1 < 1.2) | (d2 < 1.2), -1.0, 0.5).astype(np.float32)
    if kind == "dots":
        lamp = ((y // p) % 3 == 1) & ((x % p) > p * 0.25) & ((x % p) < p * 0.75)
        return np.where(lamp, 1.0, -0.3).astype(np.float32)
    if kind == "gradient":
        return (1.0 - 2.0 * y / max(h, 1)).astype(np.float32)
    noise: np.ndarray = smooth[y, x]  # (N,) float32, the smooth noise at the pixels
    if kind == "speckle":
        speckle: np.ndarray = (
            np.sign(np.sin(x * 2.3 / p + y * 1.1) * np.cos(y * 2.9 / p - x * 0.7)).astype(
                np.float32
            )
            * 0.6
            + noise * 0.4
        )
        return speckle
    if kind == "blotch":
        return noise
    raise ValueError(f"unknown texture kind {kind!r}")


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1]: a coarse random grid upsampled by repetition."""
    gh, gw = h // cell + 2, w // cell + 2
    coarse = rng.uniform(-1.0, 1.0, size=(gh, gw)).astype(np.float32)
    fine = np.repeat(np.repeat(coarse, cell, axis=0), cell, axis=1)[:h, :w]
    # a box blur of one cell softens the blocks
    k = max(cell // 2, 1)
    c = np.cumsum(np.pad(fine, ((0, 0), (k, k)), mode="edge"), axis=1)
    rows = (c[:, 2 * k :] - c[:, : -2 * k]) / (2 * k)
    c = np.cumsum(np.pad(rows, ((k, k), (0, 0)), mode="edge"), axis=0)
    return ((c[2 * k :, :] - c[: -2 * k, :]) / (2 * k)).astype(np.float32)


def render(
    ids: np.ndarray, tints: dict[int, tuple[float, float, float]], rng: np.random.Generator
) -> np.ndarray:
    """Render an instance-id map (Cityscapes encoding) to an RGB image, uint8 (H, W, 3)."""
    h, w = ids.shape
    scale = w / 512.0  # textures are defined at 512 pixels wide
    smooth = _smooth_noise(rng, h, w, max(2, round(8 * scale)))
    image = np.empty((h, w, 3), dtype=np.float32)
    labels = np.where(ids >= INSTANCE_DIVISOR, ids // INSTANCE_DIVISOR, ids)
    for label in np.unique(labels):
        look = LOOKS.get(int(label), LOOKS[UNLABELED])
        yy, xx = np.nonzero(labels == label)
        tex = _texture(look.texture, yy, xx, look.period * scale, h, smooth)
        base = np.asarray(look.color, dtype=np.float32) + rng.normal(0.0, 6.0, size=3)
        image[yy, xx] = base + look.strength * tex[:, None]
    for value, tint in tints.items():
        mask = ids == value
        if mask.any():
            image[mask] += np.asarray(tint, dtype=np.float32)
    # dark outlines where an instance meets anything else
    things = ids >= INSTANCE_DIVISOR
    edge = np.zeros((h, w), dtype=bool)
    edge[:, 1:] |= (ids[:, 1:] != ids[:, :-1]) & (things[:, 1:] | things[:, :-1])
    edge[1:, :] |= (ids[1:, :] != ids[:-1, :]) & (things[1:, :] | things[:-1, :])
    image[edge] *= 0.45
    image *= rng.uniform(0.85, 1.15)  # global exposure
    image += rng.normal(0.0, 4.0, size=image.shape).astype(np.float32)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
