"""Mask AP: COCO-style segm AP through pycocotools' COCOeval (docs/metrics.md, "Mask AP"),
from instance predictions; needs the extra ``panoptic-metrics[ap]``, imported on first use.

Ground truth comes as instance masks (`MaskAP.add_ground_truth`), RLEs (`add_instances`) or a
COCO-panoptic ground truth (`from_coco_panoptic`); predictions as masks or RLEs with labels
and scores (`add_predictions`) or a COCO results JSON (`read_predictions`). Labels are
contiguous indices, ``category_ids[label]`` the dataset id (docs/contracts.md §1); masks are
kept as compressed RLEs, so the state is small and `merge` concatenates images.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .coco_eval import coco_datasets, run_cocoeval
from .coco_instances import (
    Detections,
    ImageInstances,
    detections_from_arrays,
    instances_from_arrays,
    require_pycocotools,
)
from .coco_results import read_coco_results, write_coco_results
from .errors import PanopticInputError
from .io import DEFAULT_MAX_PIXELS, json_float
from .panoptic_instances import read_panoptic_instances
from .results import by_id_from_json, by_id_json, json_count, json_form, json_number
from .segmentation import ImageId, image_id_of

log = logging.getLogger(__name__)

__all__ = ["MaskAP", "MaskAPResult"]

_STATS = ("ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large")
_STATS_AR = ("ar_1", "ar_10", "ar_max", "ar_small", "ar_medium", "ar_large")
_COUNTS = ("max_detections", "n_images", "n_predictions", "n_ground_truth", "n_crowd")


@dataclass(frozen=True)
class MaskAPResult:
    """COCOeval's twelve segm numbers, fractions in [0, 1], NaN where COCOeval has none (-1).

    `ap` over IoU 0.50:0.05:0.95, all areas, `max_detections` per image; `ar_1`, `ar_10`,
    `ar_max`: AR with 1, 10, `max_detections` detections; `per_class_ap` in the order of
    `category_ids`; `n_ground_truth`, `n_crowd`: non-crowd and crowd ground-truth instances.
    """

    ap: float
    ap50: float
    ap75: float
    ap_small: float
    ap_medium: float
    ap_large: float
    ar_1: float
    ar_10: float
    ar_max: float
    ar_small: float
    ar_medium: float
    ar_large: float
    per_class_ap: tuple[float, ...]
    category_ids: tuple[int, ...]
    max_detections: int
    n_images: int
    n_predictions: int
    n_ground_truth: int
    n_crowd: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, NaN as null, per-class AP keyed by category id as a string."""
        data: dict[str, Any] = {key: json_float(getattr(self, key)) for key in _STATS + _STATS_AR}
        data["per_class_ap"] = by_id_json(self.category_ids, self.per_class_ap)
        return data | {key: getattr(self, key) for key in _COUNTS}

    @classmethod
    def from_json(cls, data: Any, *, source: str = "mask AP") -> MaskAPResult:
        """Read back `to_json()` output (PanopticInputError naming `source` if it is not)."""
        with json_form(source, "a mask AP result"):
            fields: dict[str, Any] = {key: json_number(data[key]) for key in _STATS + _STATS_AR}
            fields["category_ids"], fields["per_class_ap"] = by_id_from_json(data["per_class_ap"])
            fields |= {key: json_count(data[key]) for key in _COUNTS}
            return cls(**fields)


def _checked_config(category_ids: Sequence[int], max_detections: int) -> tuple[int, ...]:
    ids = tuple(int(c) for c in category_ids)
    if not ids or len(set(ids)) != len(ids):
        raise ValueError(f"category_ids must be distinct and not empty, got {list(ids)}")
    if not isinstance(max_detections, int) or max_detections < 10:
        raise ValueError(f"max_detections must be an integer >= 10, got {max_detections!r}")
    return ids


class MaskAP:
    """Streaming COCO segm AP over images; `compute` runs pycocotools' COCOeval.

    Args:
        category_ids: the dataset category id of each contiguous label (``category_ids[k]``
            for label k), the thing classes that are evaluated.
        max_detections: detections per image and category kept by COCOeval (COCO: 100;
            COCOeval's ``maxDets`` become 1, 10 and this).
    """

    def __init__(self, category_ids: Sequence[int], *, max_detections: int = 100) -> None:
        ids = _checked_config(category_ids, max_detections)
        self.category_ids = ids
        self.max_detections = max_detections
        self._gt: dict[ImageId, ImageInstances] = {}
        self._pred: dict[ImageId, Detections] = {}

    @classmethod
    def from_coco_panoptic(
        cls,
        json_path: str | os.PathLike[str],
        folder: str | os.PathLike[str],
        *,
        category_ids: Sequence[int] | None = None,
        max_detections: int = 100,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> MaskAP:
        """An accumulator holding the instances of a COCO-panoptic ground truth (`json_path`,
        the `folder` of its PNGs); `category_ids` default to the JSON's thing categories in its
        order; `max_pixels` refuses larger PNGs (decompression bombs)."""
        if category_ids is not None:  # refuse a bad configuration before reading any PNG
            _checked_config(category_ids, max_detections)
        categories, instances = read_panoptic_instances(
            json_path, folder, category_ids, max_pixels=max_pixels
        )
        acc = cls(category_ids or categories.thing_ids, max_detections=max_detections)
        acc._gt.update(instances)
        log.info("mask AP ground truth: %d images from %s", len(acc._gt), json_path)
        return acc

    # ---- adding images ---------------------------------------------------------------------

    def _check_sizes(self, image_id: ImageId, gt: ImageInstances | None, pred: Detections) -> None:
        if gt is not None and pred.size is not None and pred.size != (gt.height, gt.width):
            raise PanopticInputError(
                f"image {image_id!r}",
                f"predicted masks are {pred.size[0]}x{pred.size[1]} (HxW) "
                f"but the ground truth is {gt.height}x{gt.width}",
            )

    def _new_ground_truth(self, image_id: ImageId, gt: ImageInstances) -> None:
        if image_id in self._gt:
            raise PanopticInputError(f"image {image_id!r}", "already has ground truth")
        if image_id in self._pred:
            self._check_sizes(image_id, gt, self._pred[image_id])

    def add_ground_truth(
        self, image_id: ImageId, *, masks: Any, labels: Any, iscrowd: Any = None
    ) -> None:
        """Add the ground-truth instances of one image.

        Args:
            image_id: any int or str, unique over the dataset.
            masks: (N, H, W) binary masks (N may be 0).
            labels: (N,) contiguous labels.
            iscrowd: (N,) flags, default all False.
        """
        image_id = image_id_of(image_id, "image_id")
        gt = instances_from_arrays(masks, labels, iscrowd, self.category_ids)
        self._new_ground_truth(image_id, gt)
        self._gt[image_id] = gt

    def add_instances(self, image_id: ImageId, instances: ImageInstances) -> None:
        """Add ground truth already in RLE form, e.g. `instances_from_panoptic` of a panoptic
        ground-truth image; instances of categories not evaluated are an error."""
        image_id = image_id_of(image_id, "image_id")
        self._check_categories(image_id, instances)
        self._new_ground_truth(image_id, instances)
        self._gt[image_id] = instances

    def _check_categories(self, image_id: ImageId, instances: ImageInstances) -> None:
        unknown = sorted(set(instances.category_ids) - set(self.category_ids))
        if unknown:
            raise PanopticInputError(
                f"image {image_id!r}", f"instances of categories {unknown} are not evaluated"
            )

    def add_predictions(
        self,
        image_id: ImageId,
        *,
        labels: Any,
        scores: Any,
        masks: Any = None,
        rles: Any = None,
        boxes: Any = None,
    ) -> None:
        """Add the detections of one image.

        Args:
            image_id: any int or str, unique over the dataset.
            labels: (K,) contiguous labels.
            scores: (K,) finite confidences.
            masks: (K, H, W) binary masks, or rles: K COCO RLEs (compressed or not).
            boxes: (K, 4), optional, checked but not used by segm AP.
        """
        self.update(
            image_id, dict(labels=labels, scores=scores, masks=masks, rles=rles, boxes=boxes)
        )

    def update(
        self,
        image_id: ImageId,
        prediction: Mapping[str, Any],
        target: Mapping[str, Any] | ImageInstances | None = None,
    ) -> None:
        """Add one image: its predictions (``labels, scores, masks|rles[, boxes]``) and, unless
        the ground truth is already held, its target: ``masks, labels[, iscrowd]`` (other
        keys such as ``boxes`` and ``semantic`` are ignored) or `ImageInstances`. Nothing is
        added when anything fails.
        """
        image_id = image_id_of(image_id, "image_id")
        if image_id in self._pred:
            raise PanopticInputError(f"image {image_id!r}", "already has predictions")
        gt = None
        if isinstance(target, ImageInstances):
            gt = target
            self._check_categories(image_id, gt)
        elif target is not None:
            gt = instances_from_arrays(
                target.get("masks"), target.get("labels"), target.get("iscrowd"), self.category_ids
            )
        if gt is not None:
            self._new_ground_truth(image_id, gt)
        pred = detections_from_arrays(prediction, self.category_ids)
        self._check_sizes(image_id, gt if gt is not None else self._gt.get(image_id), pred)
        if gt is not None:
            self._gt[image_id] = gt
        self._pred[image_id] = pred

    # ---- COCO results JSON ----------------------------------------------------------------

    def write_predictions(self, path: str | os.PathLike[str]) -> None:
        """Write every prediction as a COCO results JSON (compressed RLE), atomically."""
        count = write_coco_results(path, self._pred)
        log.info("wrote %d detections of %d images to %s", count, len(self._pred), path)

    def read_predictions(self, path: str | os.PathLike[str]) -> None:
        """Add the detections of a COCO results JSON; nothing is added when any entry is bad."""
        found = read_coco_results(path, self.category_ids)
        for image_id, pred in found.items():
            if image_id in self._pred:
                raise PanopticInputError(str(path), f"image {image_id!r} already has predictions")
            self._check_sizes(image_id, self._gt.get(image_id), pred)
        self._pred.update(found)

    # ---- state ----------------------------------------------------------------------------

    def merge(self, other: MaskAP) -> MaskAP:
        """Add the images of `other` (same categories; predictions of disjoint images, ground
        truth disjoint or identical); returns self."""
        if not isinstance(other, MaskAP):
            raise TypeError(f"can only merge a MaskAP, got {type(other).__name__}")
        if (self.category_ids, self.max_detections) != (other.category_ids, other.max_detections):
            raise ValueError(
                "cannot merge MaskAP accumulators with different categories or max_detections"
            )
        both = self._pred.keys() & other._pred.keys()
        if both:
            raise PanopticInputError(
                f"image {min(map(str, both))!r}", "both accumulators hold predictions for it"
            )
        # the same ground truth may be held by both (each process loaded the whole dataset)
        for image_id in self._gt.keys() & other._gt.keys():
            if self._gt[image_id] != other._gt[image_id]:
                raise PanopticInputError(
                    f"image {image_id!r}", "the accumulators hold different ground truth for it"
                )
        for image_id, pred in other._pred.items():
            self._check_sizes(image_id, self._gt.get(image_id), pred)
        for image_id, gt in other._gt.items():
            if image_id in self._pred:
                self._check_sizes(image_id, gt, self._pred[image_id])
        self._gt.update(other._gt)
        self._pred.update(other._pred)
        return self

    def reset(self) -> None:
        """Forget every image (ground truth and predictions)."""
        self._gt.clear()
        self._pred.clear()

    # ---- evaluation -----------------------------------------------------------------------

    def compute(self) -> MaskAPResult:
        """Run COCOeval (segm) over every image with ground truth; the state is unchanged.

        Raises:
            ImportError: pycocotools is not installed.
            PanopticInputError: predictions for an image without ground truth.
        """
        require_pycocotools()
        orphans = [i for i in self._pred if i not in self._gt]
        if orphans:
            raise PanopticInputError(f"image {orphans[0]!r}", "has predictions but no ground truth")
        gt_data, dt_data = coco_datasets(self._gt, self._pred, self.category_ids)
        stats, per_class = run_cocoeval(gt_data, dt_data, self.category_ids, self.max_detections)
        if math.isnan(stats[0]):
            message = "mask AP is NaN: no ground-truth instance to evaluate"
            warnings.warn(message, RuntimeWarning, stacklevel=2)
        crowd = sum(sum(g.iscrowd) for g in self._gt.values())
        return MaskAPResult(
            **dict(zip(_STATS + _STATS_AR, stats, strict=True)),
            per_class_ap=per_class,
            category_ids=self.category_ids,
            max_detections=self.max_detections,
            n_images=len(self._gt),
            n_predictions=len(dt_data["annotations"]),
            n_ground_truth=len(gt_data["annotations"]) - crowd,
            n_crowd=crowd,
        )
