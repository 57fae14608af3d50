"""Panoptic quality kernels: RGB -> ids, the per-image intersection table, the matching."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import cast

import numpy as np

from ._cache import njit

# np.int64, typed for mypy as returning a Python int (numba sees np.int64 itself).
_i64 = cast("Callable[[object], int]", np.int64)

OK, UNKNOWN_GT_ID, UNKNOWN_PRED_ID = 0, 1, 2


@njit(cache=True, nogil=True)
def rgb_to_ids(rgb: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - numba
    """Decode (H, W, 3) uint8 RGB into `out` (H, W) uint32 ids, R + 256 G + 65536 B."""
    h, w = out.shape
    for i in range(h):
        for j in range(w):
            out[i, j] = (
                np.uint32(rgb[i, j, 0])
                | (np.uint32(rgb[i, j, 1]) << np.uint32(8))
                | (np.uint32(rgb[i, j, 2]) << np.uint32(16))
            )


@njit(cache=True, nogil=True, inline="always")
def _lookup(value: int, keys: np.ndarray, rank: np.ndarray) -> int:  # pragma: no cover
    """Dense index of `value`: 0 for void, rank[k] if keys[k] == value, -1 if absent."""
    if value == 0:
        return 0
    lo, hi = 0, keys.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    if lo < keys.shape[0] and keys[lo] == value:
        return int(rank[lo])
    return -1


# Which flag of a uint64 view of 8 uint8 flags (0 or 1) is its lowest set bit `low`: the top
# byte of low * _FLAG_INDEX. Flag t is the word's byte t from the low end on a little-endian
# machine, so low = 1 << 8t and the top byte of the product is byte 7 - t of the constant,
# which holds t; on a big-endian machine flag t is byte 7 - t, and the constant is reversed.
_FLAG_INDEX = np.uint64(0x0001020304050607 if sys.byteorder == "little" else 0x0706050403020100)


# Pixels per block of `intersection_table`'s change flags: a multiple of 8, small enough that
# the flags and the block's ids stay in the first-level cache.
_BLOCK = 1024


@njit(cache=True, nogil=True)
def intersection_table(
    gt: np.ndarray,
    pred: np.ndarray,
    gt_keys: np.ndarray,
    gt_rank: np.ndarray,
    pred_keys: np.ndarray,
    pred_rank: np.ndarray,
) -> tuple[np.ndarray, int, int]:  # pragma: no cover - numba
    """Pixel counts of every (gt, pred) pair of dense indices, by run-length accumulation.

    Segment maps change rarely along the flattened pixel order (a few thousand times in a
    COCO image of 300 000 pixels), so the pixels where the gt or the prediction changes are
    found in blocks of `_BLOCK`: a branch-free pass writes each pixel's change flag (uint8),
    which are then read 8 at a time through their uint64 view; each run of one (gt, pred)
    pair is added to the table at its end, and an id is looked up where it changes (the
    last two ids of each side are remembered: a boundary A -> B -> A needs no search). The
    per-pixel loop runs on unsigned indices: with a signed index numba checks each access
    for a negative (wrap-around) index, and that check keeps LLVM from vectorising the loop.

    Args:
        gt, pred: (N,) flattened segment-id maps of equal length (int64 or uint32).
        gt_keys: (n_gt,) int64 sorted gt segment ids; gt_rank: their dense indices (1..n_gt).
        pred_keys, pred_rank: the same for the prediction.

    Returns:
        (table, status, value): table (n_gt + 1, n_pred + 1) int64 with row/column 0 = void;
        status OK, UNKNOWN_GT_ID or UNKNOWN_PRED_ID with the offending id in `value` (the
        first unknown id in pixel order, the gt's first at a pixel where both are).
    """
    table = np.zeros((gt_keys.shape[0] + 1, pred_keys.shape[0] + 1), dtype=np.int64)
    n = gt.shape[0]
    if n == 0:
        return table, OK, 0
    # The current and the previous id of each side with their dense indices (-1: none yet):
    # at first ids other than pixel 0's (~id), and pixel 0 flagged, so that its ids are
    # looked up there.
    g_id = g_old = ~_i64(gt[0])
    p_id = p_old = ~_i64(pred[0])
    g_idx = p_idx = 0
    g_old_idx = p_old_idx = -1
    flags = np.zeros(_BLOCK, np.uint8)
    words = flags.view(np.uint64)
    start = 0  # where the current run began
    for b0 in range(0, n, _BLOCK):
        m = min(_BLOCK, n - b0)
        first = 1 if b0 == 0 else 0
        flags[0] = 1  # pixel 0 (else overwritten)
        base = np.uint64(b0)
        for j in range(np.uint64(first), np.uint64(m)):  # unsigned: see above
            i = base + j
            one = np.uint64(1)
            flags[j] = (gt[i] != gt[i - one]) | (pred[i] != pred[i - one])
        for j in range(np.uint64(m), np.uint64((m + 7) & ~7)):
            flags[j] = 0
        for w in range((m + 7) >> 3):
            word = words[w]
            while word != 0:
                low = word & (~word + np.uint64(1))  # the lowest flag set
                word ^= low
                k = b0 + (w << 3) + int((low * _FLAG_INDEX) >> np.uint64(56))
                table[g_idx, p_idx] += k - start
                start = k
                g = _i64(gt[k])
                if g != g_id:
                    idx = (
                        g_old_idx if g == g_old and g_old_idx >= 0 else _lookup(g, gt_keys, gt_rank)
                    )
                    if idx < 0:
                        return table, UNKNOWN_GT_ID, g
                    g_old, g_old_idx, g_id, g_idx = g_id, g_idx, g, idx
                p = _i64(pred[k])
                if p != p_id:
                    idx = (
                        p_old_idx
                        if p == p_old and p_old_idx >= 0
                        else _lookup(p, pred_keys, pred_rank)
                    )
                    if idx < 0:
                        return table, UNKNOWN_PRED_ID, p
                    p_old, p_old_idx, p_id, p_idx = p_id, p_idx, p, idx
    table[g_idx, p_idx] += n - start
    return table, OK, 0


@njit(cache=True, nogil=True, inline="always")
def iou_bin(inter: int, union: int, n_bins: int) -> int:  # pragma: no cover - numba
    """Histogram bin of IoU = inter / union: bin k holds (k / n, (k + 1) / n], bin 0 also 0.

    Exact in integers, so IoU > 0.5 (a PQ match) is exactly the upper half of an even n.
    IoUs above 1 (possible in strict mode when the JSON area is smaller than the pixels)
    land in the last bin.
    """
    if inter <= 0:
        return 0
    k = (n_bins * inter + union - 1) // union - 1
    return min(k, n_bins - 1)


@njit(cache=True, nogil=True)
def match_segments(
    table: np.ndarray,
    gt_class: np.ndarray,
    gt_crowd: np.ndarray,
    gt_area: np.ndarray,
    pred_class: np.ndarray,
    is_stuff: np.ndarray,
    strict: bool,
    n_bins: int,
) -> tuple[
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
]:  # pragma: no cover - numba
    """PQ and PQ† sums of one image from its intersection table.

    Args:
        table: (n_gt + 1, n_pred + 1) int64 pixel counts, row/column 0 = void.
        gt_class, pred_class: (n + 1,) int64 dense class of each segment (entry 0 unused).
        gt_crowd: (n_gt + 1,) bool crowd flags. gt_area: (n_gt + 1,) int64 gt areas (the JSON
            area in strict mode, the pixel count otherwise); prediction areas are always pixels.
        is_stuff: (C,) bool per class.
        strict: consult only the last crowd segment of a class (panopticapi); else all of them.
        n_bins: bins of the best-overlap IoU histogram.

    Returns:
        tp, fp, fn (C,) int64; iou_sum (C,) float64; dagger_n (C,) int64 (images where the
        stuff class is in the gt); dagger_iou (C,) float64 (Σ IoU of the merged stuff
        segments when > 0); best_bin (n_gt,) int64 per gt segment, -1 for crowd;
        match_iou (n_gt,) float64 the IoU of each gt segment's match, 0 if unmatched;
        match_exempt (n_gt,) bool: its matched prediction is more than half on void +
        crowd, so it would be no FP if left unmatched (PQ at a higher IoU threshold).
    """
    n_classes = is_stuff.shape[0]
    pred_area = np.zeros(table.shape[1], np.int64)
    for g in range(table.shape[0]):
        for p in range(table.shape[1]):
            pred_area[p] += table[g, p]
    tp, fn, iou_sum, pred_matched, best_bin, match_pred, match_iou = _true_positives(
        table, gt_class, gt_crowd, gt_area, pred_class, pred_area, n_classes, n_bins
    )
    fp = np.zeros(n_classes, np.int64)
    exempt = _false_positives(
        table, gt_class, gt_crowd, pred_class, pred_area, pred_matched, strict, fp
    )
    match_exempt = np.zeros(match_pred.shape[0], np.bool_)
    for g in range(match_pred.shape[0]):
        match_exempt[g] = match_pred[g] > 0 and exempt[match_pred[g]]
    dagger_n, dagger_iou = _stuff_dagger(
        table, gt_class, gt_crowd, gt_area, pred_class, pred_area, is_stuff
    )
    return tp, fp, fn, iou_sum, dagger_n, dagger_iou, best_bin, match_iou, match_exempt


@njit(cache=True, nogil=True)
def _true_positives(
    table: np.ndarray,
    gt_class: np.ndarray,
    gt_crowd: np.ndarray,
    gt_area: np.ndarray,
    pred_class: np.ndarray,
    pred_area: np.ndarray,
    n_classes: int,
    n_bins: int,
) -> tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray
]:  # pragma: no cover - numba
    """Same-class pairs with IoU > 0.5 (TP), unmatched non-crowd gt (FN), best-IoU bins, and
    each gt segment's matched prediction (0: none) and the pair's IoU."""
    n_gt, n_pred = table.shape[0] - 1, table.shape[1] - 1
    tp = np.zeros(n_classes, np.int64)
    fn = np.zeros(n_classes, np.int64)
    iou_sum = np.zeros(n_classes, np.float64)
    pred_matched = np.zeros(n_pred + 1, np.bool_)
    best_bin = np.full(n_gt, -1, np.int64)
    match_pred = np.zeros(n_gt, np.int64)
    match_iou = np.zeros(n_gt, np.float64)
    for g in range(1, n_gt + 1):
        if gt_crowd[g]:
            continue
        c = gt_class[g]
        matched = False
        best_num, best_den = 0, 1
        for p in range(1, n_pred + 1):
            inter = table[g, p]
            if inter == 0 or pred_class[p] != c:
                continue
            union = pred_area[p] + gt_area[g] - inter - table[0, p]
            if 2 * inter > union:  # IoU > 0.5, exactly
                tp[c] += 1
                iou_sum[c] += inter / union
                matched = True
                pred_matched[p] = True
                match_pred[g - 1] = p
                match_iou[g - 1] = inter / union
            if inter * best_den > best_num * union:
                best_num, best_den = inter, union
        best_bin[g - 1] = iou_bin(best_num, best_den, n_bins)
        if not matched:
            fn[c] += 1
    return tp, fn, iou_sum, pred_matched, best_bin, match_pred, match_iou


@njit(cache=True, nogil=True)
def _stuff_dagger(
    table: np.ndarray,
    gt_class: np.ndarray,
    gt_crowd: np.ndarray,
    gt_area: np.ndarray,
    pred_class: np.ndarray,
    pred_area: np.ndarray,
    is_stuff: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - numba
    """PQ† sums of the stuff classes: all non-crowd gt and all pred segments of a class
    merged; (1, IoU if > 0) for each stuff class present in the gt."""
    n_classes = is_stuff.shape[0]
    n_gt, n_pred = table.shape[0] - 1, table.shape[1] - 1
    present = np.zeros(n_classes, np.bool_)
    gt_sum = np.zeros(n_classes, np.int64)
    pred_sum = np.zeros(n_classes, np.int64)
    void_sum = np.zeros(n_classes, np.int64)
    inter = np.zeros(n_classes, np.int64)
    for p in range(1, n_pred + 1):
        pred_sum[pred_class[p]] += pred_area[p]
        void_sum[pred_class[p]] += table[0, p]
    for g in range(1, n_gt + 1):
        if gt_crowd[g]:
            continue
        c = gt_class[g]
        present[c] = True
        gt_sum[c] += gt_area[g]
        for p in range(1, n_pred + 1):
            if pred_class[p] == c:
                inter[c] += table[g, p]
    dagger_n = np.zeros(n_classes, np.int64)
    dagger_iou = np.zeros(n_classes, np.float64)
    for c in range(n_classes):
        if is_stuff[c] and present[c]:
            dagger_n[c] = 1
            if inter[c] > 0:
                dagger_iou[c] = inter[c] / (gt_sum[c] + pred_sum[c] - inter[c] - void_sum[c])
    return dagger_n, dagger_iou


@njit(cache=True, nogil=True)
def _false_positives(
    table: np.ndarray,
    gt_class: np.ndarray,
    gt_crowd: np.ndarray,
    pred_class: np.ndarray,
    pred_area: np.ndarray,
    pred_matched: np.ndarray,
    strict: bool,
    fp: np.ndarray,
) -> np.ndarray:  # pragma: no cover - numba
    """Add the unmatched predictions that are not mostly on void + same-class crowd to `fp`;
    return that exemption for every prediction, matched or not ((n_pred + 1,) bool)."""
    n_gt, n_pred = table.shape[0] - 1, table.shape[1] - 1
    exempt = np.zeros(n_pred + 1, np.bool_)
    last_crowd = np.zeros(fp.shape[0], np.int64)  # 0: no crowd segment of that class
    for g in range(1, n_gt + 1):
        if gt_crowd[g]:
            last_crowd[gt_class[g]] = g
    for p in range(1, n_pred + 1):
        c = pred_class[p]
        ignored = table[0, p]
        if strict:
            if last_crowd[c] > 0:
                ignored += table[last_crowd[c], p]
        else:
            for g in range(1, n_gt + 1):
                if gt_crowd[g] and gt_class[g] == c:
                    ignored += table[g, p]
        exempt[p] = 2 * ignored > pred_area[p]  # more than half on void + crowd
        if not exempt[p] and not pred_matched[p]:
            fp[c] += 1
    return exempt
