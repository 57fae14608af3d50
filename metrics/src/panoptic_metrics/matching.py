"""Match one ground-truth image against its prediction: the per-image PQ/PQ† state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from . import boundary, kernels
from .categories import CategorySet
from .errors import PanopticInputError
from .segmentation import ImageId, PanopticImage

Mode = Literal["strict", "pixels"]
MODES: tuple[Mode, ...] = ("strict", "pixels")

# Columns of the per-image, per-class sums (the whole state of an image).
SUM_COLUMNS = ("tp", "fp", "fn", "iou_sum", "dagger_n", "dagger_iou_sum")
TP, FP, FN, IOU_SUM, DAGGER_N, DAGGER_IOU = range(len(SUM_COLUMNS))


@dataclass(frozen=True, eq=False)
class ImageStats:
    """The small state one image contributes: what a worker sends back.

    Attributes:
        image_id: the image's id.
        classes: (k,) int64 dense indices of the classes this image touches.
        sums: (k, 6) float64 per class: tp, fp, fn, iou_sum, dagger_n, dagger_iou_sum.
        hist_class, hist_bin: (m,) int64 class and best-overlap IoU bin of every non-crowd
            gt segment of the image.
        pair_class, pair_iou, pair_exempt: (n,) int64 class, float64 IoU and bool exemption
            (the prediction is more than half on void + crowd) of every matched pair, in the
            matching's order: what PQ at higher IoU thresholds needs (`thresholds.py`).
            Empty for states read back from JSON, which keeps those sums per class only.
        boundary: (k, 4) float64 Boundary PQ sums (tp, fp, fn, iou_sum) for `classes`, or None
            when the image was matched without Boundary PQ (`boundary.image_sums`).
        errors: (k, len(kernels.CAUSES)) float64 the cause counts of the FN and FP of each of
            `classes` (`decomposition.py`); zero rows for states read from a JSON without them.
    """

    image_id: ImageId | None
    classes: np.ndarray
    sums: np.ndarray
    hist_class: np.ndarray
    hist_bin: np.ndarray
    pair_class: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pair_iou: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    pair_exempt: np.ndarray = field(default_factory=lambda: np.zeros(0, np.bool_))
    boundary: np.ndarray | None = None
    errors: np.ndarray = field(default_factory=lambda: np.zeros((0, len(kernels.CAUSES))))


def check_mode(mode: str) -> Mode:
    """Return `mode` if it is a known evaluation mode, else raise naming the choices."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


def intersection(gt: PanopticImage, pred: PanopticImage) -> np.ndarray:
    """The (n_gt + 1, n_pred + 1) pixel-count table of two images, with every check on ids."""
    if gt.ids.shape != pred.ids.shape:
        raise PanopticInputError(
            pred.source,
            f"prediction is {_size(pred.ids.shape)} but its ground truth {gt.source} is "
            f"{_size(gt.ids.shape)}",
        )
    table, status, value = kernels.intersection_table(
        gt.ids.reshape(-1),
        pred.ids.reshape(-1),
        *gt.segments.dense_lookup(),
        *pred.segments.dense_lookup(),
    )
    if status != kernels.OK:
        raise (gt if status == kernels.UNKNOWN_GT_ID else pred).unknown_id(value)
    gt.check_areas(table.sum(axis=1)[1:])
    pred.check_areas(table.sum(axis=0)[1:])
    return table


def _size(shape: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in shape[::-1]) + " (width x height)"


Tables = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _tables(
    gt: PanopticImage,
    pred: PanopticImage,
    categories: CategorySet,
    mode: Mode,
    table: np.ndarray | None = None,
) -> Tables:
    """What the matching kernels take: the intersection table (`table` if given, else
    counted), the gt's classes (-1 for void, at row 0), crowd flags and areas (declared ones
    in strict mode), the predictions' classes (-1 for void, at column 0)."""
    gt_class = categories.index_of(gt.segments.category_ids, source=gt.source)
    pred_class = categories.index_of(pred.segments.category_ids, source=pred.source)
    if table is None:
        table = intersection(gt, pred)
    gt_area = table.sum(axis=1)
    if mode == "strict":
        declared = gt.segments.areas
        gt_area[1:] = np.where(declared > 0, declared, gt_area[1:])
    gt_classes = np.concatenate(([-1], gt_class))
    gt_crowd = np.concatenate(([False], gt.segments.iscrowd))
    pred_classes = np.concatenate(([-1], pred_class))
    return table, gt_classes, gt_crowd, gt_area, pred_classes


def _match(
    tables: Tables, categories: CategorySet, mode: Mode, n_bins: int
) -> tuple[np.ndarray, ...]:
    """The matching kernel: per class tp, fp, fn, iou_sum, dagger_n, dagger_iou; per gt
    segment its best-overlap bin; per gt segment the IoU of its match and its exemption."""
    table, gt_classes, gt_crowd, gt_area, pred_classes = tables
    return tuple(
        kernels.match_segments(
            table,
            gt_classes,
            gt_crowd,
            gt_area,
            pred_classes,
            ~categories.isthing,
            mode == "strict",
            n_bins,
        )
    )


def _errors(tables: Tables, categories: CategorySet, mode: Mode) -> np.ndarray:
    """The error decomposition's kernel: the cause counts of each class's FN and FP."""
    table, gt_classes, gt_crowd, gt_area, pred_classes = tables
    return kernels.decompose_errors(
        table, gt_classes, gt_crowd, gt_area, pred_classes, mode == "strict", len(categories)
    )


def match_image(
    gt: PanopticImage,
    pred: PanopticImage,
    categories: CategorySet,
    *,
    mode: Mode = "strict",
    n_bins: int = 20,
    dilation_ratio: float | None = None,
) -> ImageStats:
    """Match a prediction against its ground truth and return the image's state.

    Args:
        gt, pred: the two images (same size).
        categories: the evaluated classes; a segment of another category is an error.
        mode: "strict" (panopticapi: gt area from the JSON where given, only the last crowd
            segment of a class consulted) or "pixels" (pixel areas, every crowd segment).
        n_bins: bins of the best-overlap IoU histogram.
        dilation_ratio: also compute Boundary PQ with this band width (a fraction of the
            image diagonal); None: not.

    Raises:
        PanopticInputError: sizes differ, unknown ids or categories, segments without pixels.
    """
    check_mode(mode)
    tables = _tables(gt, pred, categories, mode)
    table, gt_classes, gt_crowd, gt_area, pred_classes = tables
    gt_class = gt_classes[1:]
    tp, fp, fn, iou_sum, dagger_n, dagger_iou, best_bin, match_iou, exempt = _match(
        tables, categories, mode, n_bins
    )
    sums = np.stack([tp, fp, fn, iou_sum, dagger_n, dagger_iou], axis=1).astype(np.float64)
    classes = np.flatnonzero((sums[:, [TP, FP, FN, DAGGER_N]] != 0).any(axis=1))
    counts = _errors(tables, categories, mode)
    counted = best_bin >= 0
    matched = match_iou > 0  # a match has IoU > 0.5
    boundary_sums = None
    if dilation_ratio is not None:  # its classes are among PQ's: its TP + FN are PQ's
        boundary_sums = boundary.image_sums(
            gt,
            pred,
            table,
            gt_classes,
            gt_crowd,
            gt_area,
            pred_classes,
            len(categories),
            strict=mode == "strict",
            dilation_ratio=dilation_ratio,
        )[classes]
    return ImageStats(
        image_id=gt.image_id,
        classes=classes.astype(np.int64),
        sums=np.ascontiguousarray(sums[classes]),
        hist_class=gt_class[counted].astype(np.int64),
        hist_bin=best_bin[counted],
        pair_class=gt_class[matched].astype(np.int64),
        pair_iou=match_iou[matched],
        pair_exempt=exempt[matched],
        boundary=boundary_sums,
        errors=counts[classes].astype(np.float64),
    )
