"""From per-class sums to PQ, SQ, RQ and PQ†, vectorised over leading axes: the formulas, and
which classes enter the means, of docs/metrics.md ("PQ, SQ, RQ", "PQ†"); NaN where undefined.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .matching import DAGGER_IOU, DAGGER_N, FN, FP, IOU_SUM, TP


@dataclass(frozen=True)
class ClassScores:
    """Per-class pq, sq, rq, pq_dagger arrays of shape (..., C); NaN where undefined."""

    pq: np.ndarray
    sq: np.ndarray
    rq: np.ndarray
    pq_dagger: np.ndarray


def class_scores(sums: np.ndarray, isthing: np.ndarray) -> ClassScores:
    """Per-class scores from (..., C, 6) sums (columns of `matching.SUM_COLUMNS`)."""
    tp, fp, fn = sums[..., TP], sums[..., FP], sums[..., FN]
    iou, dagger_n, dagger_iou = sums[..., IOU_SUM], sums[..., DAGGER_N], sums[..., DAGGER_IOU]
    denominator = tp + 0.5 * fp + 0.5 * fn
    valid = (tp + fp + fn) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        pq = np.where(valid, iou / denominator, np.nan)
        rq = np.where(valid, tp / denominator, np.nan)
        sq = np.where(tp > 0, iou / tp, np.where(valid, 0.0, np.nan))
        stuff_dagger = np.where(dagger_n > 0, dagger_iou / dagger_n, np.nan)
    pq_dagger = np.where(isthing, pq, stuff_dagger)
    return ClassScores(pq, sq, rq, pq_dagger)


def nanmean(values: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean over the last axis of the defined (non-NaN) values within `mask`, and their count.

    Returns NaN (quietly) where nothing is defined; `average` adds the warning.
    """
    defined = ~np.isnan(values)
    if mask is not None:
        defined &= mask
    n = defined.sum(axis=-1)
    total = np.where(defined, values, 0.0).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, total / np.maximum(n, 1), np.nan), n


def average(values: np.ndarray, mask: np.ndarray, what: str) -> tuple[float, int]:
    """Mean of the defined per-class `values` within `mask`; NaN with a warning if none."""
    mean, n = nanmean(values, mask)
    if int(n) == 0:
        warnings.warn(f"{what}: no class to average, the result is NaN", RuntimeWarning, 2)
    return float(mean), int(n)
