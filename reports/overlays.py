"""Pixel art for the qualitative panels: coloured panoptic overlays and error maps (numpy).

Colours: each segment takes its category's colour, thing instances a shade of it so that
touching instances stay apart, with a light line on every segment boundary. Errors, on the
image in grey: a wrong category (red), the right category where PQ's matching pairs the two
segments not (orange), ground truth left void by the prediction (yellow). Crowd and void
ground truth are never errors. Which segments PQ matches is decided by panoptic_metrics
(`match_image`), never by the report.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from panoptic_metrics import CategorySet, PanopticImage, match_image
from panoptic_metrics.matching import Mode, intersection

ERROR_COLOURS: dict[int, tuple[str, tuple[int, int, int]]] = {
    1: ("wrong class", (230, 25, 45)),
    2: ("right class, segments not matched by PQ (IoU ≤ 0.5)", (255, 150, 0)),
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


def segment_categories(image: PanopticImage) -> dict[int, int]:
    """Segment id -> category id of an image."""
    segments = image.segments
    return dict(zip(segments.ids.tolist(), segments.category_ids.tolist(), strict=True))


def matched_pairs(
    gt: PanopticImage, pred: PanopticImage, categories: CategorySet, mode: Mode = "strict"
) -> set[tuple[int, int]]:
    """(gt id, pred id) of the segments PQ matches (its true positives), as panoptic_metrics
    decides them.

    `match_image` with two histogram bins tells which gt segments are matched: bin 1 holds
    exactly the best same-class IoU > 0.5 (`IouHistogram`), in the order of the non-crowd
    gt segments. The partner of a matched gt segment is the same-class prediction sharing
    most pixels with it: the union is at least the gt area, so IoU > 0.5 needs more than half
    of the gt segment, which leaves less than half for any other prediction.
    """
    stats = match_image(gt, pred, categories, mode=mode, n_bins=2)
    table = intersection(gt, pred)  # (n_gt + 1, n_pred + 1); row/column k + 1: segment k
    non_crowd = np.flatnonzero(~gt.segments.iscrowd)
    pairs = set()
    for g in non_crowd[stats.hist_bin == 1].tolist():
        same = pred.segments.category_ids == gt.segments.category_ids[g]
        p = int(np.argmax(np.where(same, table[g + 1, 1:], -1)))
        pairs.add((int(gt.segments.ids[g]), int(pred.segments.ids[p])))
    return pairs


def _pixel_categories(image: PanopticImage) -> np.ndarray:
    """The category of every pixel's segment, -1 on void (id 0)."""
    segments = image.segments
    if not len(segments):
        return np.full(image.ids.shape, -1, dtype=np.int64)
    order = np.argsort(segments.ids)
    keys, values = segments.ids[order], segments.category_ids[order]
    pos = np.minimum(np.searchsorted(keys, image.ids), len(keys) - 1)
    return np.where(keys[pos] == image.ids, values[pos], -1)


def error_map(
    gt: PanopticImage, pred: PanopticImage, categories: CategorySet, mode: Mode = "strict"
) -> np.ndarray:
    """(H, W) uint8 error codes of `ERROR_COLOURS` (0 = no error or not evaluated).

    Raises:
        PanopticInputError: the two maps do not fit together (sizes, ids, categories).
    """
    pairs = matched_pairs(gt, pred, categories, mode)
    gt_cat, pred_cat = _pixel_categories(gt), _pixel_categories(pred)
    crowd = np.isin(gt.ids, gt.segments.ids[gt.segments.iscrowd])
    evaluated = (gt_cat >= 0) & ~crowd
    predicted = pred.ids != 0
    codes = np.zeros(gt.ids.shape, dtype=np.uint8)
    codes[evaluated & ~predicted] = 3
    codes[evaluated & predicted & (gt_cat != pred_cat)] = 1
    right = evaluated & predicted & (gt_cat == pred_cat)
    width = int(pred.ids.max()) + 1
    keys = gt.ids.astype(np.int64) * width + pred.ids.astype(np.int64)
    matched = np.isin(keys, [a * width + b for a, b in pairs])
    codes[right & ~matched] = 2
    return codes


def paint_errors(image: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The image in faint grey with each error code painted in its colour."""
    grey = image.astype(float).mean(axis=-1, keepdims=True) * 0.55 + 90
    out = np.repeat(grey, 3, axis=-1)
    for code, (_, rgb) in ERROR_COLOURS.items():
        out[codes == code] = rgb
    painted: np.ndarray = np.clip(out, 0, 255).astype(np.uint8)
    return painted
