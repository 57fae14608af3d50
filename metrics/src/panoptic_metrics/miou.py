"""Semantic mIoU from a dataset-pooled confusion matrix, the Cityscapes convention
(docs/metrics.md, "mIoU"): labels are contiguous class indices ``0..num_classes-1``
(docs/contracts.md §1) plus one ignore label (255 by default); a predicted ignore label on a
labelled pixel is an FN of the ground-truth class and an FP of none. The state is the integer
confusion matrix, so images, processes and machines merge by addition.

Example:
    >>> import numpy as np
    >>> acc = MiouAccumulator(num_classes=2)
    >>> acc.update(np.array([[0, 0], [1, 255]]), np.array([[0, 1], [1, 0]]))
    >>> result = acc.compute()
    >>> result.per_class_iou, result.miou
    ((0.5, 0.5), 0.5)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import kernels
from .errors import PanopticInputError
from .io import json_float
from .readers.arrays import as_array, is_integer_array
from .results import by_id_from_json, by_id_json, json_count, json_form, json_number

__all__ = ["MiouAccumulator", "MiouResult", "as_label_map"]


def as_label_map(value: Any, name: str) -> np.ndarray:
    """An integer label map (numpy array, nested lists, anything with ``__array__``: torch
    tensors, also on a GPU) as a C-contiguous int64 array; PanopticInputError naming `name`
    if it is not array-like or not of an integer dtype."""
    array = as_array(value, name)
    if not is_integer_array(array):
        raise PanopticInputError(name, f"expected integer labels, got dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype=np.int64)


@dataclass(frozen=True)
class MiouResult:
    """Semantic segmentation scores; fractions in [0, 1], NaN where there is nothing to average.

    `per_class_iou` and the pooled pixel counts `tp`, `fp`, `fn` (fn includes pixels predicted
    as ignore) follow the class indices, `category_ids` their dataset ids; `n_pixels` counts
    the labelled pixels. The counts are None when read back from a run's metrics.json, which
    keeps `miou` and `per_class_iou` only (docs/contracts.md §4).
    """

    miou: float
    per_class_iou: tuple[float, ...]
    category_ids: tuple[int, ...]
    tp: tuple[int, ...] | None = None
    fp: tuple[int, ...] | None = None
    fn: tuple[int, ...] | None = None
    ignore_index: int | None = None
    n_images: int | None = None
    n_pixels: int | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN as null), keyed by category id as a string (contracts §4);
        `miou` and `per_class_iou` only when the counts are unknown."""
        ious = by_id_json(self.category_ids, self.per_class_iou)
        data: dict[str, Any] = {"miou": json_float(self.miou), "per_class_iou": ious}
        if self.tp is None or self.fp is None or self.fn is None:
            return data
        counts = zip(ious.items(), self.tp, self.fp, self.fn, strict=True)
        data["per_class"] = {
            c: {"iou": i, "tp": tp, "fp": fp, "fn": fn} for (c, i), tp, fp, fn in counts
        }
        return data | {k: getattr(self, k) for k in ("ignore_index", "n_images", "n_pixels")}

    @classmethod
    def from_json(cls, data: Any, *, source: str = "mIoU") -> MiouResult:
        """Read back `to_json()` output, with or without the counts (PanopticInputError
        naming `source` if `data` is not that JSON)."""
        with json_form(source, "an mIoU result"):
            ids, ious = by_id_from_json(data["per_class_iou"])
            fields: dict[str, Any] = {"miou": json_number(data["miou"]), "category_ids": ids}
            fields["per_class_iou"] = ious
            if "per_class" in data:
                rows = [data["per_class"][str(c)] for c in ids]
                fields |= {k: tuple(json_count(r[k]) for r in rows) for k in ("tp", "fp", "fn")}
                fields |= {k: json_count(data[k]) for k in ("ignore_index", "n_images", "n_pixels")}
            return cls(**fields)


class MiouAccumulator:
    """Streaming, mergeable mIoU: `update` per image, `compute` at the end. Labels are
    ``0..num_classes-1``; `ignore_index` (outside them) marks pixels not evaluated;
    `category_ids` (default ``0..num_classes-1``), the dataset id of each, key the results.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        ignore_index: int = 255,
        category_ids: Sequence[int] | None = None,
    ) -> None:
        if not isinstance(num_classes, int | np.integer) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        if 0 <= ignore_index < num_classes:
            raise ValueError(
                f"ignore_index {ignore_index} is a class index: "
                f"it must lie outside 0..{num_classes - 1}"
            )
        ids = tuple(int(c) for c in (range(num_classes) if category_ids is None else category_ids))
        if len(ids) != num_classes or len(set(ids)) != num_classes:
            raise ValueError(f"category_ids must hold {num_classes} distinct ids, got {list(ids)}")
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self.category_ids = ids
        self._matrix = np.zeros((self.num_classes, self.num_classes + 1), dtype=np.int64)
        self._n_images = 0

    @property
    def confusion(self) -> np.ndarray:
        """A copy of the pooled (C, C + 1) int64 matrix; column C counts predicted ignore."""
        return self._matrix.copy()

    @property
    def n_images(self) -> int:
        """Label maps accumulated so far."""
        return self._n_images

    def update(self, gt: Any, pred: Any) -> None:
        """Add one label map (H, W), or a batch (N, H, W), of ground truth and prediction.

        Raises:
            PanopticInputError: an input is not an integer array, the shapes differ or are
                not 2-D/3-D, or a label is out of range. The state is then unchanged.
        """
        matrix, n_images = self.confusion_of(gt, pred)
        self.add(matrix, n_images)

    def confusion_of(self, gt: Any, pred: Any) -> tuple[np.ndarray, int]:
        """The (C, C + 1) confusion matrix of a label map or batch, and its number of images,
        without adding them (`update` = `confusion_of` + `add`). Raises as `update`."""
        gt_map, pred_map = as_label_map(gt, "gt"), as_label_map(pred, "pred")
        if gt_map.shape != pred_map.shape:
            raise PanopticInputError(
                "pred", f"has shape {pred_map.shape} but gt has shape {gt_map.shape}"
            )
        if gt_map.ndim not in (2, 3):
            raise PanopticInputError(
                "gt", f"expected label maps (H, W) or batches (N, H, W), got {gt_map.shape}"
            )
        matrix, bad = kernels.confusion_matrix(
            gt_map.ravel(), pred_map.ravel(), self.num_classes, self.ignore_index
        )
        if bad >= 0:
            self._raise_out_of_range(gt_map, pred_map, int(bad))
        return matrix, 1 if gt_map.ndim == 2 else gt_map.shape[0]

    def add(self, matrix: np.ndarray, n_images: int = 1) -> None:
        """Add a confusion matrix from `confusion_of` (or another process's state)."""
        if matrix.shape != self._matrix.shape:
            raise ValueError(f"expected a {self._matrix.shape} matrix, got {matrix.shape}")
        self._matrix += matrix
        self._n_images += n_images

    def _raise_out_of_range(self, gt: np.ndarray, pred: np.ndarray, flat: int) -> None:
        where = tuple(int(i) for i in np.unravel_index(flat, gt.shape))
        g, p = int(gt.flat[flat]), int(pred.flat[flat])
        gt_ok = g == self.ignore_index or 0 <= g < self.num_classes
        name, value = ("pred", p) if gt_ok else ("gt", g)
        raise PanopticInputError(
            name,
            f"label {value} at index {where} is out of range: expected "
            f"0..{self.num_classes - 1} or the ignore label {self.ignore_index}",
        )

    def merge(self, other: MiouAccumulator) -> MiouAccumulator:
        """Add the state of `other` (same classes and ignore label) into this one; returns self."""
        if not isinstance(other, MiouAccumulator):
            raise TypeError(f"can only merge a MiouAccumulator, got {type(other).__name__}")
        mine = (self.num_classes, self.ignore_index, self.category_ids)
        theirs = (other.num_classes, other.ignore_index, other.category_ids)
        if mine != theirs:
            raise ValueError(
                "cannot merge accumulators with different (num_classes, ignore_index, "
                f"category_ids): {mine} and {theirs}"
            )
        self._matrix += other._matrix
        self._n_images += other._n_images
        return self

    def reset(self) -> None:
        """Forget every image accumulated so far."""
        self._matrix[:] = 0
        self._n_images = 0

    def compute(self) -> MiouResult:
        """The scores of everything accumulated so far; the state is left unchanged."""
        matrix = self._matrix
        tp = np.diag(matrix[:, : self.num_classes]).copy()
        fn = matrix.sum(axis=1) - tp  # includes pixels predicted as the ignore label
        fp = matrix[:, : self.num_classes].sum(axis=0) - tp
        denominator = tp + fp + fn
        present = denominator > 0
        iou = np.full(self.num_classes, np.nan)
        iou[present] = tp[present] / denominator[present]
        if present.any():
            miou = float(iou[present].mean())
        else:
            miou = math.nan
            message = "mIoU is NaN: no class has ground truth or predictions on labelled pixels"
            warnings.warn(message, RuntimeWarning, stacklevel=2)
        return MiouResult(
            miou=miou,
            # math.nan itself: equal results then compare equal (tuples compare identity first)
            per_class_iou=tuple(math.nan if np.isnan(x) else float(x) for x in iou),
            tp=tuple(int(x) for x in tp),
            fp=tuple(int(x) for x in fp),
            fn=tuple(int(x) for x in fn),
            category_ids=self.category_ids,
            ignore_index=self.ignore_index,
            n_images=self._n_images,
            n_pixels=int(matrix.sum()),
        )
