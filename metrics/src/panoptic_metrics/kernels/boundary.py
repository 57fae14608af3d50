"""Boundary PQ kernels (docs/metrics.md, "Boundary PQ"): every segment's boundary band, the
(gt band, pred band) pixel-count table, and the matching on min(mask IoU, boundary IoU).

The Boundary IoU reference code (Cheng et al. 2021, `mask_to_boundary`) pads a segment's
binary mask with one ring of zeros, erodes it `d` times with a 3x3 square and keeps
mask & ~eroded. OpenCV runs `d` iterations of a full 3x3 erosion as one erosion by a
(2d + 1)-square, and the zero ring makes the image border count as background; so a pixel of
segment s stays in the eroded mask exactly when the (2d + 1)-square around it lies inside
the image and holds only pixels of s. Segments partition the image, so that test is one test
for all segments at once: "is the square around this pixel uniform (one id) and inside the
image". `segment_bands` answers it for every pixel in one O(H * W) pass whatever `d`
(run lengths along rows, then along columns), instead of eroding each segment's mask in its
bounding box (O(box area * d) each); tests/metrics/kernels/test_boundary.py checks it against
the literal per-segment erosion of `twins.segment_bands`.
"""

from __future__ import annotations

import math

import numpy as np

from ._cache import njit
from .panoptic import _false_positives, _lookup

DEFAULT_DILATION_RATIO = 0.02  # Cheng et al. 2021, and their reference code's default


def dilation_pixels(ratio: float, height: int, width: int) -> int:
    """The band width d of an image: round(ratio * diagonal) (half to even, as the reference
    code's Python `round` of a float), at least 1."""
    return max(1, round(ratio * math.sqrt(height**2 + width**2)))


@njit(cache=True, nogil=True)
def segment_bands(ids: np.ndarray, d: int) -> np.ndarray:  # pragma: no cover - numba
    """(H, W) bool: the pixels of every segment (id != 0) within chessboard distance `d` of a
    pixel of another id (void included) or of the outside of the image.

    A pixel is interior when the (2d + 1)-square centred on it is inside the image and
    uniform. Rows first: `left[j]` counts the equal ids ending at column j, so the row window
    centred on j is uniform iff left[j + d] >= 2d + 1. Then columns: `up[j]` counts the rows
    ending at row i whose windows at column j are uniform with the same id, so the square
    centred on (i - d, j) is uniform iff up[j] >= 2d + 1 at row i.
    """
    h, w = ids.shape
    band = np.zeros((h, w), np.bool_)
    span = 2 * d + 1
    left = np.zeros(w, np.int64)
    row_ok = np.zeros(w, np.bool_)
    prev_ok = np.zeros(w, np.bool_)
    up = np.zeros(w, np.int64)
    for i in range(h):
        for j in range(w):
            band[i, j] = ids[i, j] != 0
            if j > 0 and ids[i, j] == ids[i, j - 1]:
                left[j] = left[j - 1] + 1
            else:
                left[j] = 1
        for j in range(w):
            row_ok[j] = j + d < w and left[j + d] >= span
        for j in range(w):
            if row_ok[j]:
                if i > 0 and prev_ok[j] and ids[i, j] == ids[i - 1, j]:
                    up[j] += 1
                else:
                    up[j] = 1
            else:
                up[j] = 0
            prev_ok[j] = row_ok[j]
            if up[j] >= span:
                band[i - d, j] = False
    return band


@njit(cache=True, nogil=True)
def boundary_table(
    gt: np.ndarray,
    pred: np.ndarray,
    gt_band: np.ndarray,
    pred_band: np.ndarray,
    gt_keys: np.ndarray,
    gt_rank: np.ndarray,
    pred_keys: np.ndarray,
    pred_rank: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - numba
    """Pixel counts of the boundary bands, on dense indices.

    Args:
        gt, pred: (N,) flattened segment-id maps whose ids are all known (`intersection_table`
            has checked them); gt_band, pred_band: (N,) bool, their `segment_bands`.
        gt_keys, gt_rank, pred_keys, pred_rank: as for `intersection_table`.

    Returns:
        (table, gt_area, pred_area): table (n_gt + 1, n_pred + 1) int64, [g, p] the pixels in
        both gt band g and pred band p, row 0 the pred band's pixels on gt void (column 0
        unused, 0); gt_area (n_gt + 1,), pred_area (n_pred + 1,) int64 band areas (entry 0:
        0). An unknown id (not possible after `intersection_table`) counts as void.
    """
    table = np.zeros((gt_keys.shape[0] + 1, pred_keys.shape[0] + 1), dtype=np.int64)
    gt_area = np.zeros(gt_keys.shape[0] + 1, dtype=np.int64)
    pred_area = np.zeros(pred_keys.shape[0] + 1, dtype=np.int64)
    prev_g, prev_p = -1, -1  # ids are >= 0: the first band pixel looks its ids up
    gi, pi = 0, 0
    for k in range(gt.shape[0]):
        gb, pb = gt_band[k], pred_band[k]
        if not (gb or pb):
            continue
        g, p = gt[k], pred[k]
        if g != prev_g:
            gi = max(_lookup(g, gt_keys, gt_rank), 0)
            prev_g = g
        if p != prev_p:
            pi = max(_lookup(p, pred_keys, pred_rank), 0)
            prev_p = p
        if gb:
            gt_area[gi] += 1
        if pb:
            pred_area[pi] += 1
            if gb or gi == 0:
                table[gi, pi] += 1
    return table, gt_area, pred_area


@njit(cache=True, nogil=True)
def match_boundary(
    table: np.ndarray,
    band_table: np.ndarray,
    gt_band_area: np.ndarray,
    pred_band_area: np.ndarray,
    gt_class: np.ndarray,
    gt_crowd: np.ndarray,
    gt_area: np.ndarray,
    pred_class: np.ndarray,
    n_classes: int,
    strict: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - numba
    """Boundary PQ sums of one image: PQ's matching with each pair's IoU replaced by
    min(mask IoU, boundary IoU), where boundary IoU = band intersection / (gt band area +
    pred band area - band intersection - pred band on gt void), as the Boundary IoU
    reference code computes it; FN and FP by PQ's rules (the mask table decides which
    unmatched predictions are mostly on void + crowd).

    Args:
        table, gt_class, gt_crowd, gt_area, pred_class, strict: as for `match_segments`.
        band_table, gt_band_area, pred_band_area: `boundary_table`'s.
        n_classes: C.

    Returns:
        tp, fp, fn (C,) int64; iou_sum (C,) float64 (Σ of the matched pairs' min IoU).
    """
    n_gt, n_pred = table.shape[0] - 1, table.shape[1] - 1
    pred_area = np.zeros(n_pred + 1, np.int64)
    for g in range(n_gt + 1):
        for p in range(n_pred + 1):
            pred_area[p] += table[g, p]
    tp = np.zeros(n_classes, np.int64)
    fn = np.zeros(n_classes, np.int64)
    iou_sum = np.zeros(n_classes, np.float64)
    pred_matched = np.zeros(n_pred + 1, np.bool_)
    for g in range(1, n_gt + 1):
        if gt_crowd[g]:
            continue
        c = gt_class[g]
        matched = False
        for p in range(1, n_pred + 1):
            inter = table[g, p]
            if inter == 0 or pred_class[p] != c:
                continue
            iou = inter / (pred_area[p] + gt_area[g] - inter - table[0, p])
            b_inter = band_table[g, p]
            b_union = pred_band_area[p] + gt_band_area[g] - b_inter - band_table[0, p]
            b_iou = b_inter / b_union if b_union > 0 else 0.0
            iou = min(iou, b_iou)
            if iou > 0.5:
                tp[c] += 1
                iou_sum[c] += iou
                matched = True
                pred_matched[p] = True
        if not matched:
            fn[c] += 1
    fp = np.zeros(n_classes, np.int64)
    _false_positives(table, gt_class, gt_crowd, pred_class, pred_area, pred_matched, strict, fp)
    return tp, fp, fn, iou_sum
