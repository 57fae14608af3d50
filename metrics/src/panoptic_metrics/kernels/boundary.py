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
the literal per-segment erosion of `twins.segment_bands`. `boundary_table` finds the bands
of both maps in the same way while it counts them, without storing them.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from ._cache import njit
from .panoptic import _false_positives, _lookup

DEFAULT_DILATION_RATIO = 0.02  # Cheng et al. 2021, and their reference code's default


def dilation_pixels(ratio: float, height: int, width: int) -> int:
    """The band width d of an image: round(ratio * diagonal) (half to even, as the reference
    code's Python `round` of a float), at least 1."""
    return max(1, round(ratio * math.sqrt(height**2 + width**2)))


@njit(cache=True, nogil=True)
def _change_buffer(w: int) -> np.ndarray:  # pragma: no cover - numba
    """Scratch for `_next_change`: (w // 8 + 2) * 8 uint8 ones, so that entry w (the
    sentinel) and the rest of its 8-byte word stay set."""
    return np.ones((w // 8 + 2) * 8, np.uint8)


# The trailing zero bits of a power of two p < 2**64: _TRAILING[(p * _DE_BRUIJN) >> 58], with
# the de Bruijn sequence B(2, 6) (Leiserson, Prokop and Randall 1998, "Using de Bruijn
# sequences to index a 1 in a computer word").
_DE_BRUIJN = np.uint64(0x022FDD63CC95386D)
_TRAILING = np.zeros(64, np.uint8)
for _bit in range(64):  # in Python's integers: numpy warns when uint64 wraps
    _TRAILING[((0x022FDD63CC95386D << _bit) & 0xFFFFFFFFFFFFFFFF) >> 58] = _bit
_LITTLE_ENDIAN = sys.byteorder == "little"  # entry k of an 8-byte word holds its bits 8k..


@njit(cache=True, nogil=True)
def _next_change(ch: np.ndarray, words: np.ndarray, a: int) -> int:  # pragma: no cover - numba
    """The first k > a with ch[k] set (ch[w] is set: the sentinel), found 8 entries at a time
    through `words`, the uint64 view of `ch`: a row's runs are long, so most words are zero;
    in the first non-zero word the lowest set byte is its trailing zero bits / 8 (a de Bruijn
    multiplication; byte by byte on a big-endian machine)."""
    b = a + 1
    if not _LITTLE_ENDIAN:
        while ch[b] == 0:
            b += 1
        return b
    k = b >> 3
    word = words[k] >> np.uint64((b & 7) * 8)  # the entries from b on
    if word == 0:
        k += 1
        while words[k] == 0:
            k += 1
        word = words[k]
        b = k << 3
    low = word & (~word + np.uint64(1))
    return b + (int(_TRAILING[(low * _DE_BRUIJN) >> np.uint64(58)]) >> 3)


@njit(cache=True, nogil=True)
def _count_up(
    ids: np.ndarray, i: int, d: int, up: np.ndarray, uni: np.ndarray, ch: np.ndarray
) -> None:  # pragma: no cover - numba
    """Advance the column counts `up` to row i of `ids`: up[j] = the rows ending at row i whose
    (2d + 1)-wide row windows centred on column j are uniform, with one id throughout.

    The window centred on j is uniform iff the run of equal ids holding j - d reaches j + d:
    for a run [a, b) of row i that is a + d <= j < b - d (`uni[j]` = 1, found from the row's
    change flags `ch`, run by run). Such a window continues the count of the row above when
    that row has the same id at j (its count is 0 if its own window was not uniform), else
    restarts at 1; the per-pixel loops are branch-free, so that they vectorise. A loop over
    part of a row runs on unsigned indices: with a signed index numba checks each access for
    a negative (wrap-around) index, and that check keeps LLVM from vectorising the loop (the
    band table took twice as long).
    """
    w = ids.shape[1]
    row = ids[i]
    words = ch.view(np.uint64)
    ch[0] = 1
    for j in range(1, w):
        ch[j] = row[j] != row[j - 1]
    for j in range(w):
        uni[j] = 0
    a = 0
    while a < w:
        b = _next_change(ch, words, a)
        for j in range(np.uint64(a + d), np.uint64(max(b - d, a + d))):  # unsigned: see below
            uni[j] = 1
        a = b
    if i == 0:
        for j in range(w):
            up[j] = uni[j]
    else:
        above = ids[i - 1]
        for j in range(w):
            up[j] = (up[j] * (above[j] == row[j]) + 1) * uni[j]


@njit(cache=True, nogil=True)
def segment_bands(ids: np.ndarray, d: int) -> np.ndarray:  # pragma: no cover - numba
    """(H, W) bool: the pixels of every segment (id != 0) within chessboard distance `d` of a
    pixel of another id (void included) or of the outside of the image.

    A pixel is interior when the (2d + 1)-square centred on it is inside the image and
    uniform: rows first, then columns (`_count_up`), so the square centred on (i - d, j) is
    uniform iff up[j] >= 2d + 1 at row i; row i - d of the band is written then. The last d
    rows have no square inside the image: band wherever not void.
    """
    h, w = ids.shape
    band = np.empty((h, w), np.bool_)
    span = 2 * d + 1
    up = np.zeros(w, np.int32)
    uni = np.zeros(w, np.uint8)
    ch = _change_buffer(w)
    for i in range(h):
        _count_up(ids, i, d, up, uni, ch)
        r = i - d
        if r >= 0:
            for j in range(w):
                band[r, j] = (ids[r, j] != 0) & (up[j] < span)
    for r in range(max(h - d, 0), h):
        for j in range(w):
            band[r, j] = ids[r, j] != 0
    return band


@njit(cache=True, nogil=True)
def boundary_table(
    gt: np.ndarray,
    pred: np.ndarray,
    d: int,
    gt_keys: np.ndarray,
    gt_rank: np.ndarray,
    pred_keys: np.ndarray,
    pred_rank: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - numba
    """Pixel counts of the boundary bands (`segment_bands` at `d`) of two maps, on dense
    indices, in one pass: the bands of both maps are found row by row (`_count_up`) and
    counted d rows behind (`_count_row`), per run of one (gt, pred) pair, without storing
    them.

    Args:
        gt, pred: (H, W) segment-id maps whose ids are all known (`intersection_table` has
            checked them). d: the band width in pixels (>= 1).
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
    h, w = gt.shape
    if h == 0 or w == 0:
        return table, gt_area, pred_area
    lookup = (gt_keys, gt_rank, pred_keys, pred_rank)
    span = 2 * d + 1
    up_gt = np.zeros(w, np.int32)
    up_pred = np.zeros(w, np.int32)
    uni = np.zeros(w, np.uint8)
    ch = _change_buffer(w)
    for i in range(h + d):
        if i < h:
            _count_up(gt, i, d, up_gt, uni, ch)
            _count_up(pred, i, d, up_pred, uni, ch)
        else:  # past the last row: no square centred on rows h - d.. fits in the image
            for j in range(w):
                up_gt[j] = 0
                up_pred[j] = 0
        if i >= d:
            _count_row(
                gt[i - d], pred[i - d], span, up_gt, up_pred, ch, table, gt_area, pred_area, lookup
            )
    return table, gt_area, pred_area


@njit(cache=True, nogil=True)
def _count_row(
    g_row: np.ndarray,
    p_row: np.ndarray,
    span: int,
    up_gt: np.ndarray,
    up_pred: np.ndarray,
    ch: np.ndarray,
    table: np.ndarray,
    gt_area: np.ndarray,
    pred_area: np.ndarray,
    lookup: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> None:  # pragma: no cover - numba
    """Add one row's band pixels: per run of one (gt, pred) pair (found from the change flags
    `ch` of either row), the pixels in the gt band (up_gt < span), in the pred band and in
    both."""
    gt_keys, gt_rank, pred_keys, pred_rank = lookup
    w = g_row.shape[0]
    words = ch.view(np.uint64)
    ch[0] = 1
    for j in range(1, w):
        ch[j] = (g_row[j] != g_row[j - 1]) | (p_row[j] != p_row[j - 1])
    gi = pi = 0
    a = 0
    while a < w:
        b = _next_change(ch, words, a)
        n_gt = n_pred = n_both = 0
        for j in range(np.uint64(a), np.uint64(b)):  # unsigned: see `_count_up`
            in_gt = up_gt[j] < span
            in_pred = up_pred[j] < span
            n_gt += in_gt
            n_pred += in_pred
            n_both += in_gt & in_pred
        g, p = g_row[a], p_row[a]
        if a == 0 or g != g_row[a - 1]:
            gi = max(_lookup(g, gt_keys, gt_rank), 0)
        if a == 0 or p != p_row[a - 1]:
            pi = max(_lookup(p, pred_keys, pred_rank), 0)
        if gi > 0:
            gt_area[gi] += n_gt
        if pi > 0:
            pred_area[pi] += n_pred
            table[gi, pi] += n_both if gi > 0 else n_pred
        a = b


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
