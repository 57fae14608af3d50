"""The panoptic error decomposition kernel: one cause for every FN and every FP of PQ's
matching (docs/metrics.md, "Error decomposition").

Thresholds are TIDE's (Bolya et al., ECCV 2020): the foreground threshold is PQ's own
IoU > 0.5, the background threshold IoU > 0.1; "covers most of" is more than half of the
segment's area. Every test is exact in integers (no float IoU is compared).
"""

from __future__ import annotations

import numpy as np

from ._cache import njit

# Causes, in order of precedence within each side: the first that holds is the cause.
FN_CAUSES = ("fn_class", "fn_merged", "fn_split", "fn_localisation", "fn_missed")
FP_CAUSES = (
    "fp_class",
    "fp_duplicate",
    "fp_localisation",
    "fp_class_localisation",
    "fp_crowd_void",
    "fp_background",
)
CAUSES = FN_CAUSES + FP_CAUSES
(
    FN_CLASS,
    FN_MERGED,
    FN_SPLIT,
    FN_LOCALISATION,
    FN_MISSED,
    FP_CLASS,
    FP_DUPLICATE,
    FP_LOCALISATION,
    FP_CLASS_LOCALISATION,
    FP_CROWD_VOID,
    FP_BACKGROUND,
) = range(len(CAUSES))


@njit(cache=True, nogil=True)
def decompose_errors(
    table: np.ndarray,
    gt_class: np.ndarray,
    gt_crowd: np.ndarray,
    gt_area: np.ndarray,
    pred_class: np.ndarray,
    strict: bool,
    n_classes: int,
) -> np.ndarray:  # pragma: no cover - numba
    """The cause of every FN and FP of one image, counted per class.

    Args: those of `match_segments` (`n_classes` for its `is_stuff.shape[0]`); the matching
    and the FP rule (void + same-class crowd, the last crowd segment only when `strict`) are
    PQ's, recomputed here from the table.

    Returns:
        (n_classes, len(CAUSES)) int64: an FN counts in its gt segment's class, an FP in its
        prediction's class; each row's FN causes add up to the class's FN, its FP causes to
        its FP.
    """
    n_gt, n_pred = table.shape[0] - 1, table.shape[1] - 1
    out = np.zeros((n_classes, len(CAUSES)), np.int64)
    pred_area = np.zeros(n_pred + 1, np.int64)
    for g in range(n_gt + 1):
        for p in range(n_pred + 1):
            pred_area[p] += table[g, p]
    gt_matched = np.zeros(n_gt + 1, np.bool_)
    pred_matched = np.zeros(n_pred + 1, np.bool_)
    for g in range(1, n_gt + 1):
        if gt_crowd[g]:
            continue
        for p in range(1, n_pred + 1):
            inter = table[g, p]
            same = inter > 0 and pred_class[p] == gt_class[g]
            if same and 2 * inter > pred_area[p] + gt_area[g] - inter - table[0, p]:
                gt_matched[g] = True
                pred_matched[p] = True
    for g in range(1, n_gt + 1):
        if gt_crowd[g] or gt_matched[g]:
            continue
        cause = _fn_cause(table, gt_class, gt_crowd, gt_area, pred_class, pred_area, g)
        out[gt_class[g], cause] += 1
    last_crowd = np.zeros(n_classes, np.int64)
    for g in range(1, n_gt + 1):
        if gt_crowd[g]:
            last_crowd[gt_class[g]] = g
    for p in range(1, n_pred + 1):
        if pred_matched[p]:
            continue
        c = pred_class[p]
        ignored = table[0, p]
        crowd_any = table[0, p]
        for g in range(1, n_gt + 1):
            if gt_crowd[g]:
                crowd_any += table[g, p]
                if gt_class[g] == c and not strict:
                    ignored += table[g, p]
        if strict and last_crowd[c] > 0:
            ignored += table[last_crowd[c], p]
        if 2 * ignored > pred_area[p]:
            continue  # no FP: mostly on void + same-class crowd
        cause = _fp_cause(
            table, gt_class, gt_crowd, gt_area, pred_class, pred_area, gt_matched, p, crowd_any
        )
        out[c, cause] += 1
    return out


@njit(cache=True, nogil=True)
def _fn_cause(
    table: np.ndarray,
    gt_class: np.ndarray,
    gt_crowd: np.ndarray,
    gt_area: np.ndarray,
    pred_class: np.ndarray,
    pred_area: np.ndarray,
    g: int,
) -> int:  # pragma: no cover - numba
    """The cause of the unmatched non-crowd gt segment `g`."""
    n_gt, n_pred = table.shape[0] - 1, table.shape[1] - 1
    c = gt_class[g]
    area = gt_area[g]
    merged = False
    parts = 0
    part_sum = 0
    local = False
    for p in range(1, n_pred + 1):
        inter = table[g, p]
        if inter == 0:
            continue
        union = pred_area[p] + area - inter - table[0, p]
        if pred_class[p] != c:
            if 2 * inter > union:
                return FN_CLASS  # at most one prediction has IoU > 0.5
            continue
        if 10 * inter > union:
            local = True
        if 10 * inter >= area:
            parts += 1
            part_sum += inter
        if 2 * inter > area and not merged:
            for h in range(1, n_gt + 1):
                other = h != g and not gt_crowd[h] and gt_class[h] == c
                if other and 2 * table[h, p] > gt_area[h]:
                    merged = True
                    break
    if merged:
        return FN_MERGED
    if parts >= 2 and 2 * part_sum > area:
        return FN_SPLIT
    if local:
        return FN_LOCALISATION
    return FN_MISSED


@njit(cache=True, nogil=True)
def _fp_cause(
    table: np.ndarray,
    gt_class: np.ndarray,
    gt_crowd: np.ndarray,
    gt_area: np.ndarray,
    pred_class: np.ndarray,
    pred_area: np.ndarray,
    gt_matched: np.ndarray,
    p: int,
    crowd_any: int,
) -> int:  # pragma: no cover - numba
    """The cause of the unmatched, not exempt prediction `p` (`crowd_any`: its pixels on
    void and on crowd of any class)."""
    n_gt, n_pred = table.shape[0] - 1, table.shape[1] - 1
    c = pred_class[p]
    duplicate = False
    local = False
    class_local = False
    for g in range(1, n_gt + 1):
        inter = table[g, p]
        if inter == 0 or gt_crowd[g]:
            continue
        union = pred_area[p] + gt_area[g] - inter - table[0, p]
        if gt_class[g] != c:
            if 2 * inter > union:
                return FP_CLASS
            if 10 * inter > union:
                class_local = True
            continue
        if 10 * inter > union:
            local = True
        if 2 * inter > pred_area[p] and not duplicate:
            if gt_matched[g]:
                duplicate = True
            else:
                for q in range(1, n_pred + 1):
                    part = table[g, q] > 0 and 10 * table[g, q] >= gt_area[g]
                    if q != p and pred_class[q] == c and part:
                        duplicate = True
                        break
    if duplicate:
        return FP_DUPLICATE
    if local:
        return FP_LOCALISATION
    if class_local:
        return FP_CLASS_LOCALISATION
    if 2 * crowd_any > pred_area[p]:
        return FP_CROWD_VOID
    return FP_BACKGROUND
