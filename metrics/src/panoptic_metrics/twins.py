"""The plain-numpy twins of `kernels.py`: each kernel again, under the same name and with
the same results, written as whole-array numpy (or plain Python): slow and obviously right.
The tests compare every kernel with its twin; the library itself never calls them.
"""

from __future__ import annotations

import numpy as np

from . import kernels


def rgb_to_ids(rgb: np.ndarray) -> np.ndarray:
    """Twin of `kernels.rgb_to_ids`, returning the ids (as panopticapi's rgb2id computes them)."""
    wide = rgb.astype(np.uint32)
    ids: np.ndarray = wide[..., 0] + 256 * wide[..., 1] + 256 * 256 * wide[..., 2]
    return ids


def _dense(ids: np.ndarray, keys: np.ndarray, rank: np.ndarray) -> tuple[np.ndarray, int]:
    ids = ids.astype(np.int64)
    pos = np.minimum(np.searchsorted(keys, ids), max(len(keys) - 1, 0))
    found = (keys[pos] == ids) if len(keys) else np.zeros(ids.shape, dtype=bool)
    bad = ~found & (ids != 0)
    if np.any(bad):
        return ids, int(ids[np.argmax(bad)])
    return np.where(ids == 0, 0, rank[pos] if len(keys) else 0), -1


def intersection_table(
    gt: np.ndarray,
    pred: np.ndarray,
    gt_keys: np.ndarray,
    gt_rank: np.ndarray,
    pred_keys: np.ndarray,
    pred_rank: np.ndarray,
) -> tuple[np.ndarray, int, int]:
    """Twin of `kernels.intersection_table`: searchsorted + one bincount over pair indices."""
    shape = (len(gt_keys) + 1, len(pred_keys) + 1)
    gi, bad_g = _dense(gt, gt_keys, gt_rank)
    pi, bad_p = _dense(pred, pred_keys, pred_rank)
    empty = np.zeros(shape, dtype=np.int64)
    if bad_g >= 0 and (bad_p < 0 or np.argmax(gt == bad_g) <= np.argmax(pred == bad_p)):
        return empty, kernels.UNKNOWN_GT_ID, bad_g
    if bad_p >= 0:
        return empty, kernels.UNKNOWN_PRED_ID, bad_p
    flat = gi * shape[1] + pi
    table = np.bincount(flat, minlength=shape[0] * shape[1]).reshape(shape).astype(np.int64)
    return table, kernels.OK, 0


def match_segments(
    table: np.ndarray,
    gt_class: np.ndarray,
    gt_crowd: np.ndarray,
    gt_area: np.ndarray,
    pred_class: np.ndarray,
    is_stuff: np.ndarray,
    strict: bool,
    n_bins: int,
) -> tuple[np.ndarray, ...]:
    """Twin of `kernels.match_segments`: the same rules as whole-table array algebra."""
    n_classes = len(is_stuff)
    gcls, pcls, crowd = gt_class[1:], pred_class[1:], gt_crowd[1:].astype(bool)
    pred_area = table.sum(axis=0)
    inter = table[1:, 1:]
    union = pred_area[None, 1:] + gt_area[1:, None] - inter - table[0, None, 1:]
    same = (gcls[:, None] == pcls[None, :]) & ~crowd[:, None] & (inter > 0)
    iou = np.where(same, inter / np.maximum(union, 1), 0.0)
    match = same & (iou > 0.5)
    rows = np.nonzero(match)[0]
    tp = np.bincount(gcls[rows], minlength=n_classes).astype(np.int64)
    iou_sum = np.bincount(gcls[rows], weights=iou[match], minlength=n_classes)
    unmatched_gt = ~match.any(axis=1) & ~crowd
    fn = np.bincount(gcls[unmatched_gt], minlength=n_classes).astype(np.int64)
    if strict:  # panopticapi keeps, per class, the crowd segment listed last
        last = {int(c): g for g, c in enumerate(gcls) if crowd[g]}
        used = np.zeros(len(gcls), dtype=bool)
        used[list(last.values())] = True
    else:
        used = crowd
    on_crowd = np.where(used[:, None] & (gcls[:, None] == pcls[None, :]), inter, 0).sum(axis=0)
    ignored = table[0, 1:] + on_crowd
    exempt = ignored / np.maximum(pred_area[1:], 1) > 0.5
    fp_mask = ~match.any(axis=0) & ~exempt
    fp = np.bincount(pcls[fp_mask], minlength=n_classes).astype(np.int64)
    match_iou = np.where(match, iou, 0.0).sum(axis=1)  # at most one match per row
    match_exempt = (match & exempt[None, :]).any(axis=1)
    best = np.full(len(gcls), -1)
    if iou.shape[1]:
        best = np.where(same.any(axis=1), np.argmax(iou, axis=1), -1)
    best_bin = np.full(len(gcls), -1, dtype=np.int64)
    for g in np.nonzero(~crowd)[0]:
        b = best[g]
        num, den = (int(inter[g, b]), int(union[g, b])) if b >= 0 else (0, 1)
        best_bin[g] = 0 if num == 0 else min((n_bins * num + den - 1) // den - 1, n_bins - 1)
    merged = _stuff_dagger(table, gcls, crowd, gt_area, pcls, pred_area)
    stuff = np.asarray(is_stuff, dtype=bool)
    dn = np.zeros(n_classes, dtype=np.int64)
    di = np.zeros(n_classes, dtype=np.float64)
    for c, (n, v) in merged.items():
        if stuff[c]:
            dn[c], di[c] = n, v
    return tp, fp, fn, iou_sum, dn, di, best_bin, match_iou, match_exempt


def _stuff_dagger(
    table: np.ndarray,
    gcls: np.ndarray,
    crowd: np.ndarray,
    gt_area: np.ndarray,
    pcls: np.ndarray,
    pred_area: np.ndarray,
) -> dict[int, tuple[int, float]]:
    """Per class present in the gt: (1, IoU of the merged gt and pred segments, or 0)."""
    out: dict[int, tuple[int, float]] = {}
    for c in np.unique(gcls[~crowd]).tolist():
        g_rows = np.nonzero((gcls == c) & ~crowd)[0] + 1
        p_cols = np.nonzero(pcls == c)[0] + 1
        inter = int(table[np.ix_(g_rows, p_cols)].sum())
        areas = int(gt_area[g_rows].sum()) + int(pred_area[p_cols].sum())
        union = areas - inter - int(table[0, p_cols].sum())
        out[c] = (1, inter / union if inter > 0 else 0.0)
    return out


def decompose_errors(
    table: np.ndarray,
    gt_class: np.ndarray,
    gt_crowd: np.ndarray,
    gt_area: np.ndarray,
    pred_class: np.ndarray,
    strict: bool,
    n_classes: int,
) -> np.ndarray:
    """Twin of `kernels.decompose_errors`: every test as a whole-table boolean array, the
    cause the first true one in precedence order (`np.select`)."""
    gcls, pcls, crowd = gt_class[1:], pred_class[1:], gt_crowd[1:].astype(bool)
    pred_area = table.sum(axis=0)[1:]
    area = gt_area[1:, None]
    inter, void = table[1:, 1:], table[0, None, 1:]
    union = pred_area[None, :] + area - inter - void
    same = gcls[:, None] == pcls[None, :]
    live = ~crowd[:, None] & (inter > 0)  # a non-crowd gt segment and a prediction overlap
    above = live & (2 * inter > union)  # IoU > 0.5
    local = live & (10 * inter > union)  # IoU > 0.1
    match = above & same
    gt_matched, pred_matched = match.any(axis=1), match.any(axis=0)
    covers = live & same & (2 * inter > area)  # the prediction covers most of the gt segment
    part = live & same & (10 * inter >= area)  # ... at least a tenth of it
    merged = (covers & (covers.sum(axis=0) >= 2)[None, :]).any(axis=1)
    split = (part.sum(axis=1) >= 2) & (2 * np.where(part, inter, 0).sum(axis=1) > area[:, 0])
    fn_cause = np.select(
        [(above & ~same).any(axis=1), merged, split, (local & same).any(axis=1)],
        [0, 1, 2, 3],
        4,
    )
    out = np.zeros((n_classes, len(kernels.CAUSES)), np.int64)
    fn = ~crowd & ~gt_matched
    np.add.at(out, (gcls[fn], fn_cause[fn]), 1)
    if strict:  # panopticapi keeps, per class, the crowd segment listed last
        last = {int(c): g for g, c in enumerate(gcls) if crowd[g]}
        used = np.zeros(len(gcls), dtype=bool)
        used[list(last.values())] = True
    else:
        used = crowd
    on_crowd = np.where(used[:, None] & same, inter, 0).sum(axis=0)
    exempt = 2 * (void[0] + on_crowd) > pred_area
    crowd_any = void[0] + np.where(crowd[:, None], inter, 0).sum(axis=0)
    inside = live & same & (2 * inter > pred_area[None, :])  # mostly inside a gt segment
    others = part.sum(axis=1)[:, None] - part  # other same-class parts of that segment
    duplicate = (inside & (gt_matched[:, None] | (others >= 1))).any(axis=0)
    fp_cause = np.select(
        [
            (above & ~same).any(axis=0),
            duplicate,
            (local & same).any(axis=0),
            (local & ~same).any(axis=0),
            2 * crowd_any > pred_area,
        ],
        [5, 6, 7, 8, 9],
        10,
    )
    fp = ~pred_matched & ~exempt
    np.add.at(out, (pcls[fp], fp_cause[fp]), 1)
    return out


def segment_bands(ids: np.ndarray, d: int) -> np.ndarray:
    """Twin of `kernels.segment_bands`: the Boundary IoU reference code's `mask_to_boundary`
    for each segment in turn: pad its mask with one ring of zeros, erode it `d` times with a
    3x3 square (outside the padded array counts as mask, as OpenCV's default border), crop,
    keep mask & ~eroded."""
    h, w = ids.shape
    band = np.zeros((h, w), dtype=bool)
    for value in np.unique(ids[ids != 0]).tolist():
        mask = ids == value
        eroded = np.pad(mask, 1, constant_values=False)
        for _ in range(d):
            framed = np.pad(eroded, 1, constant_values=True)
            shifts = [
                framed[1 + dy : h + 3 + dy, 1 + dx : w + 3 + dx]
                for dy in (-1, 0, 1)
                for dx in (-1, 0, 1)
            ]
            eroded = np.logical_and.reduce(shifts)
        band |= mask & ~eroded[1 : h + 1, 1 : w + 1]
    return band


def boundary_table(
    gt: np.ndarray,
    pred: np.ndarray,
    d: int,
    gt_keys: np.ndarray,
    gt_rank: np.ndarray,
    pred_keys: np.ndarray,
    pred_rank: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Twin of `kernels.boundary_table`: the reference erosion's bands (`segment_bands`
    below), then bincounts over the band pixels."""
    shape = (len(gt_keys) + 1, len(pred_keys) + 1)
    gt_band, pred_band = segment_bands(gt, d).ravel(), segment_bands(pred, d).ravel()
    gt, pred = gt.ravel(), pred.ravel()
    gi, _ = _dense(gt, gt_keys, gt_rank)
    pi, _ = _dense(pred, pred_keys, pred_rank)
    gt_area = np.bincount(gi[gt_band], minlength=shape[0]).astype(np.int64)
    pred_area = np.bincount(pi[pred_band], minlength=shape[1]).astype(np.int64)
    gt_area[0] = pred_area[0] = 0  # void has no band
    counted = pred_band & (gt_band | (gi == 0))
    flat = gi[counted] * shape[1] + pi[counted]
    table = np.bincount(flat, minlength=shape[0] * shape[1]).reshape(shape).astype(np.int64)
    return table, gt_area, pred_area


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
) -> tuple[np.ndarray, ...]:
    """Twin of `kernels.match_boundary`: `match_segments`' rules as whole-table array algebra,
    on min(mask IoU, boundary IoU)."""
    gcls, pcls, crowd = gt_class[1:], pred_class[1:], gt_crowd[1:].astype(bool)
    pred_area = table.sum(axis=0)
    inter = table[1:, 1:]
    union = pred_area[None, 1:] + gt_area[1:, None] - inter - table[0, None, 1:]
    b_inter = band_table[1:, 1:]
    b_union = pred_band_area[None, 1:] + gt_band_area[1:, None] - b_inter - band_table[0, None, 1:]
    same = (gcls[:, None] == pcls[None, :]) & ~crowd[:, None] & (inter > 0)
    iou = np.minimum(inter / np.maximum(union, 1), b_inter / np.maximum(b_union, 1))
    match = same & (iou > 0.5)
    rows = np.nonzero(match)[0]
    tp = np.bincount(gcls[rows], minlength=n_classes).astype(np.int64)
    iou_sum = np.bincount(gcls[rows], weights=iou[match], minlength=n_classes)
    fn = np.bincount(gcls[~match.any(axis=1) & ~crowd], minlength=n_classes).astype(np.int64)
    # FP: PQ's rule on the mask table, with this matching's matched predictions
    if strict:
        last = {int(c): g for g, c in enumerate(gcls) if crowd[g]}
        used = np.zeros(len(gcls), dtype=bool)
        used[list(last.values())] = True
    else:
        used = crowd
    on_crowd = np.where(used[:, None] & (gcls[:, None] == pcls[None, :]), inter, 0).sum(axis=0)
    exempt = (table[0, 1:] + on_crowd) / np.maximum(pred_area[1:], 1) > 0.5
    fp = np.bincount(pcls[~match.any(axis=0) & ~exempt], minlength=n_classes).astype(np.int64)
    return tp, fp, fn, iou_sum


def confusion_matrix(
    gt: np.ndarray, pred: np.ndarray, num_classes: int, ignore_index: int
) -> tuple[np.ndarray, int]:
    """Twin of `kernels.confusion_matrix`: one bincount over pair indices."""
    gt_bad = (gt != ignore_index) & ((gt < 0) | (gt >= num_classes))
    pred_bad = (pred != ignore_index) & ((pred < 0) | (pred >= num_classes))
    bad = np.flatnonzero(gt_bad | pred_bad)
    end = int(bad[0]) if bad.size else gt.shape[0]  # count the pixels before the first bad one
    gt, pred = gt[:end], pred[:end]
    counted = gt != ignore_index
    column = np.where(pred == ignore_index, num_classes, pred)
    flat = gt[counted] * (num_classes + 1) + column[counted]
    counts = np.bincount(flat, minlength=num_classes * (num_classes + 1))
    matrix = counts.reshape(num_classes, num_classes + 1).astype(np.int64)
    return matrix, int(bad[0]) if bad.size else -1


def rle_counts(chars: bytes) -> tuple[list[int], bool]:
    """Twin of `kernels.rle_counts` in plain Python (a bytes string in, a list out)."""
    counts: list[int] = []
    p = 0
    while p < len(chars):
        x = k = 0
        more = True
        while more:
            if p >= len(chars) or k >= 7:
                return counts, False
            c = chars[p] - 48
            if not 0 <= c <= 63:
                return counts, False
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p, k = p + 1, k + 1
            if not more and c & 0x10:
                x -= 1 << (5 * k)  # sign extension
        if len(counts) > 2:
            x += counts[-2]
        if x < 0:
            return counts, False
        counts.append(x)
    return counts, True


def segment_rles(
    ids: np.ndarray, keys: np.ndarray, rank: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Twin of `kernels.segment_rles`: one mask per segment, its runs from `np.diff`."""
    flat = ids.ravel(order="F").astype(np.int64)
    _, bad = _dense(flat, keys, rank)
    if bad >= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), kernels.UNKNOWN_GT_ID, bad
    runs: list[int] = []
    owner: list[int] = []
    for key, d in sorted(zip(keys.tolist(), rank.tolist(), strict=True), key=lambda kd: kd[1]):
        mask = (flat == key).astype(np.int8)
        if not mask.any():
            continue
        edges = [0, *(np.flatnonzero(np.diff(mask)) + 1).tolist(), len(mask)]
        counts = np.diff(edges).tolist()
        if mask[0]:
            counts = [0, *counts]  # COCO RLEs start with a run of zeros
        runs += counts
        owner += [d] * len(counts)
    return np.array(runs, np.int64), np.array(owner, np.int64), kernels.OK, 0
