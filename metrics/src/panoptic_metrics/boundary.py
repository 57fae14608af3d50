"""Boundary PQ of one image (docs/metrics.md, "Boundary PQ"): PQ's matching with each pair's
IoU replaced by min(mask IoU, boundary IoU), the boundary of a segment being its pixels within
d = dilation_ratio x image diagonal of its contour (Cheng et al. 2021, "Boundary IoU").

The per-class sums (tp, fp, fn, iou_sum: `BOUNDARY_COLUMNS`) ride in `ImageStats.boundary`
and add up over images like PQ's own; `results.BoundaryResult` turns them into scores.
"""

from __future__ import annotations

import math

import numpy as np

from . import kernels
from .kernels import DEFAULT_DILATION_RATIO
from .segmentation import PanopticImage

# Columns of the per-class Boundary PQ sums: those of PQ itself.
BOUNDARY_COLUMNS = ("tp", "fp", "fn", "iou_sum")

__all__ = ["BOUNDARY_COLUMNS", "DEFAULT_DILATION_RATIO", "check_dilation_ratio", "image_sums"]


def check_dilation_ratio(ratio: float) -> float:
    """`ratio` as a float; ValueError unless it is a finite number > 0 (a ratio that rounds to
    less than one pixel gives a band of 1 pixel, as in the reference code)."""
    value = float(ratio)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"the dilation ratio must be a finite number > 0, got {ratio!r}")
    return value


def image_sums(
    gt: PanopticImage,
    pred: PanopticImage,
    table: np.ndarray,
    gt_class: np.ndarray,
    gt_crowd: np.ndarray,
    gt_area: np.ndarray,
    pred_class: np.ndarray,
    n_classes: int,
    *,
    strict: bool,
    dilation_ratio: float,
) -> np.ndarray:
    """(C, 4) float64 Boundary PQ sums of one image (columns `BOUNDARY_COLUMNS`).

    Args:
        gt, pred: the two images, their ids already checked by `matching.intersection`.
        table: their (n_gt + 1, n_pred + 1) mask intersection table.
        gt_class, gt_crowd, gt_area, pred_class: as `kernels.match_segments` takes them
            (entry 0 for void).
        n_classes: C. strict: panopticapi's crowd rule (see `match_segments`).
        dilation_ratio: the band width as a fraction of the image diagonal.
    """
    h, w = gt.ids.shape
    d = kernels.dilation_pixels(dilation_ratio, h, w)
    band_table, gt_band_area, pred_band_area = kernels.boundary_table(
        gt.ids, pred.ids, d, *gt.segments.dense_lookup(), *pred.segments.dense_lookup()
    )
    tp, fp, fn, iou_sum = kernels.match_boundary(
        table,
        band_table,
        gt_band_area,
        pred_band_area,
        gt_class,
        gt_crowd,
        gt_area,
        pred_class,
        n_classes,
        strict,
    )
    return np.stack([tp, fp, fn, iou_sum], axis=1).astype(np.float64)
