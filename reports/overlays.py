"""Pixel art for the qualitative panels: coloured panoptic overlays and error maps (numpy).

Colours: each segment takes its category's colour, thing instances a shade of it so that
touching instances stay apart, with a light line on every segment boundary. Errors, on the
image in grey: a wrong category (red), the right category in a segment that matches no
ground-truth segment with IoU > 0.5 (orange), ground truth left void by the prediction
(yellow). Crowd and void ground truth are never errors.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

ERROR_COLOURS: dict[int, tuple[str, tuple[int, int, int]]] = {
    1: ("wrong class", (230, 25, 45)),
    2: ("right class, unmatched segment (IoU ≤ 0.5)", (255, 150, 0)),
    3: ("predicted void", (255, 235, 40)),
}
_FALLBACK = np.array(
    [[31, 119, 180], [255, 127, 14], [44, 160, 44], [148, 103, 189], [140, 86, 75], [23, 190, 207]]
)


def _boundaries(ids: np.ndarray) -> np.ndarray:
    edge = np.zeros(ids.shape, dtype=bool)
    edge[:, 1:] |= ids[:, 1:] != ids[:, :-1]
    edge[1:, :] |= ids[1:, :] != ids[:-1, :]
    return edge


def colourise(
    ids: np.ndarray,
    segment_category: Mapping[int, int],
    colours: Mapping[int, tuple[int, int, int] | None],
    things: frozenset[int],
) -> np.ndarray:
    """(H, W, 3) float colours in [0, 255] of a segment-id map; NaN where void (id 0 or unknown)."""
    out = np.full((*ids.shape, 3), np.nan)
    for seg, cat in segment_category.items():
        mask = ids == seg
        if not mask.any():
            continue
        base = colours.get(cat)
        rgb = np.asarray(base if base is not None else _FALLBACK[cat % len(_FALLBACK)], float)
        if cat in things:
            shade = 0.65 + 0.7 * ((seg * 2654435761) % 997) / 997.0  # stable, per instance
            rgb = np.clip(rgb * shade + (shade - 1.0) * 40.0, 0, 255)
        out[mask] = rgb
    out[_boundaries(ids)] = 235.0
    return out


def overlay(image: np.ndarray, colours: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """Blend `colours` over `image` (uint8); void pixels (NaN) show the image dimmed."""
    base = image.astype(float)
    void = np.isnan(colours[..., 0])
    out = np.where(
        void[..., None], 0.45 * base, (1 - alpha) * base + alpha * np.nan_to_num(colours)
    )
    return np.clip(out, 0, 255).astype(np.uint8)


def matched_pairs(
    gt: np.ndarray,
    gt_category: Mapping[int, int],
    pred: np.ndarray,
    pred_category: Mapping[int, int],
) -> set[tuple[int, int]]:
    """(gt id, pred id) pairs of one category with IoU > 0.5, void folded as PQ does.

    The report's own per-image matching, for display only; the metrics come from
    panoptic_metrics through metrics.json.
    """
    g, p = gt.ravel().astype(np.int64), pred.ravel().astype(np.int64)
    keys, inter = np.unique(g * (int(p.max()) + 1) + p, return_counts=True)
    kg, kp = keys // (int(p.max()) + 1), keys % (int(p.max()) + 1)
    area_g = dict(zip(*np.unique(g, return_counts=True), strict=True))
    area_p = dict(zip(*np.unique(p, return_counts=True), strict=True))
    void_p = dict(zip(kp[kg == 0], inter[kg == 0], strict=True))
    pairs = set()
    for a, b, n in zip(kg.tolist(), kp.tolist(), inter.tolist(), strict=True):
        if a == 0 or b == 0 or a not in gt_category or gt_category[a] != pred_category.get(b):
            continue
        union = area_g[a] + area_p[b] - n - void_p.get(b, 0)
        if n / union > 0.5:
            pairs.add((a, b))
    return pairs


def error_map(
    gt: np.ndarray,
    gt_category: Mapping[int, int],
    crowd: frozenset[int],
    pred: np.ndarray,
    pred_category: Mapping[int, int],
) -> np.ndarray:
    """(H, W) uint8 error codes of `ERROR_COLOURS` (0 = no error or not evaluated)."""
    pred = np.where(np.isin(pred, list(pred_category)), pred, 0)
    gt_cat, pred_cat = _lookup(gt, gt_category), _lookup(pred, pred_category)
    evaluated = (gt_cat >= 0) & ~np.isin(gt, list(crowd))
    codes = np.zeros(gt.shape, dtype=np.uint8)
    codes[evaluated & (pred == 0)] = 3
    wrong = evaluated & (pred != 0) & (gt_cat != pred_cat)
    codes[wrong] = 1
    pairs = matched_pairs(gt, gt_category, pred, pred_category)
    right = evaluated & (pred != 0) & (gt_cat == pred_cat)
    if right.any():
        width = int(pred.max()) + 1
        keys = gt.astype(np.int64) * width + pred
        ok = np.isin(keys, [a * width + b for a, b in pairs])
        codes[right & ~ok] = 2
    return codes


def _lookup(ids: np.ndarray, category: Mapping[int, int]) -> np.ndarray:
    """The category of every pixel's segment, -1 for void (id 0) and unlisted ids."""
    values, inverse = np.unique(ids, return_inverse=True)
    table = np.array([category.get(v, -1) if v else -1 for v in values.tolist()], dtype=np.int64)
    index = np.asarray(inverse, dtype=np.intp).reshape(ids.shape)
    return table[index]


def paint_errors(image: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The image in faint grey with each error code painted in its colour."""
    grey = image.astype(float).mean(axis=-1, keepdims=True) * 0.55 + 90
    out = np.repeat(grey, 3, axis=-1)
    for code, (_, rgb) in ERROR_COLOURS.items():
        out[codes == code] = rgb
    painted: np.ndarray = np.clip(out, 0, 255).astype(np.uint8)
    return painted
