"""PQ over IoU thresholds (docs/metrics.md, "PQ over IoU thresholds"): the per-class sums of
PQ matched at IoU > t, for every t of a ladder, from the pairs of the one matching at 0.5.

A same-class pair with IoU > t >= 0.5 also has IoU > 0.5, and the matches above 0.5 are
unique, so matching at t keeps exactly the 0.5 matches whose IoU exceeds t. A match dropped
at t becomes one FN (its gt segment) and, unless its prediction is more than half on void +
same-class crowd (the rule for every unmatched prediction), one FP: exactly what matching
afresh at t counts (vernier's `pq_iou_threshold` does the same).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .matching import FN, FP, IOU_SUM, TP, ImageStats

# 0.5, 0.55, ..., 0.95 as the nearest doubles of the decimals (the COCO AP ladder).
IOU_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))

# Columns of the per-threshold sums: those of PQ itself.
LADDER_COLUMNS = ("tp", "fp", "fn", "iou_sum")


def check_thresholds(values: Iterable[float]) -> tuple[float, ...]:
    """`values` sorted and deduplicated; ValueError unless each is a number in [0.5, 1).

    Below 0.5 a gt segment could match two predictions (not PQ); at 1 or above nothing does.
    """
    out = sorted({float(v) for v in values})
    if not out:
        raise ValueError("at least one IoU threshold is needed")
    for t in out:
        if not (math.isfinite(t) and 0.5 <= t < 1.0):
            raise ValueError(f"IoU thresholds must lie in [0.5, 1), got {t!r}")
    return tuple(out)


def threshold_key(t: float) -> str:
    """A threshold as a JSON key: the shortest text that reads back as the same float."""
    return repr(float(t))


def threshold_sums(stats: ImageStats, thresholds: tuple[float, ...]) -> np.ndarray:
    """(k, T, 4) float64 sums of one image at each threshold, for `stats.classes` (columns
    `LADDER_COLUMNS`). At 0.5 they equal `stats.sums[:, :4]` bit for bit: the IoUs are added
    in the matching's own order, starting from 0."""
    k, n_t = len(stats.classes), len(thresholds)
    out = np.zeros((k, n_t, len(LADDER_COLUMNS)), dtype=np.float64)
    out[:, :, FP] = stats.sums[:, None, FP]
    out[:, :, FN] = stats.sums[:, None, FN]
    if not stats.pair_class.size:
        return out
    row = np.searchsorted(stats.classes, stats.pair_class)  # classes are sorted
    above = stats.pair_iou[:, None] > np.asarray(thresholds)[None, :]  # (pairs, T)
    pair, level = np.nonzero(above)  # row-major: each cell's pairs in matching order
    np.add.at(out[:, :, TP], (row[pair], level), 1.0)
    np.add.at(out[:, :, IOU_SUM], (row[pair], level), stats.pair_iou[pair])
    dropped = ~above
    pair, level = np.nonzero(dropped)
    np.add.at(out[:, :, FN], (row[pair], level), 1.0)
    pair, level = np.nonzero(dropped & ~stats.pair_exempt[:, None])
    np.add.at(out[:, :, FP], (row[pair], level), 1.0)
    return out
