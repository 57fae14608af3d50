"""pycocotools' COCOeval (segm) on instances held as RLEs: the COCO datasets it reads, its
run, and its twelve summary numbers computed without its printing.

pycocotools (the extra ``panoptic-metrics[ap]``) is imported on first use.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .coco_instances import Detections, ImageInstances, Rle, require_pycocotools
from .segmentation import ImageId

log = logging.getLogger(__name__)

__all__ = ["coco_datasets", "run_cocoeval"]


def _annotations(
    mask_utils: Any,
    image_number: int,
    rles: Sequence[Rle],
    category_ids: Sequence[int],
    extras: Sequence[dict[str, Any]],
    before: Sequence[Any],
) -> list[dict[str, Any]]:
    """COCO annotations of one image's RLEs; ids continue after the `before` annotations."""
    if not rles:
        return []
    areas, boxes = mask_utils.area(list(rles)), mask_utils.toBbox(list(rles))
    return [
        {
            "id": len(before) + k + 1,
            "image_id": image_number,
            "category_id": category,
            "segmentation": rle,
            "area": float(area),
            "bbox": [float(b) for b in box],
            **extra,
        }
        for k, (rle, category, area, box, extra) in enumerate(
            zip(rles, category_ids, areas, boxes, extras, strict=True)
        )
    ]


def coco_datasets(
    gt: Mapping[ImageId, ImageInstances],
    pred: Mapping[ImageId, Detections],
    category_ids: Sequence[int],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """COCO ground-truth and results datasets, images numbered 1..N in `gt` order."""
    mask_utils = require_pycocotools()
    images: list[dict[str, Any]] = []
    gt_anns: list[dict[str, Any]] = []
    dt_anns: list[dict[str, Any]] = []
    for number, (image_id, truth) in enumerate(gt.items(), start=1):
        images.append({"id": number, "height": truth.height, "width": truth.width})
        crowd = [{"iscrowd": int(c)} for c in truth.iscrowd]
        gt_anns += _annotations(mask_utils, number, truth.rles, truth.category_ids, crowd, gt_anns)
        found = pred.get(image_id)
        if found is not None:
            scores = [{"score": s, "iscrowd": 0} for s in found.scores]
            dt_anns += _annotations(
                mask_utils, number, found.rles, found.category_ids, scores, dt_anns
            )
    categories = [{"id": c} for c in category_ids]
    return (
        {"images": images, "annotations": gt_anns, "categories": categories},
        {"images": images, "annotations": dt_anns, "categories": categories},
    )


def run_cocoeval(
    gt_data: dict[str, Any],
    dt_data: dict[str, Any],
    category_ids: Sequence[int],
    max_detections: int,
) -> tuple[list[float], tuple[float, ...]]:
    """COCOeval's twelve segm stats and the AP of each category (NaN for COCOeval's -1)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not gt_data["images"]:
        return [math.nan] * 12, tuple(math.nan for _ in category_ids)
    chatter = io.StringIO()
    with contextlib.redirect_stdout(chatter):  # pycocotools prints; a library must not
        coco_gt, coco_dt = COCO(), COCO()
        coco_gt.dataset, coco_dt.dataset = gt_data, dt_data
        coco_gt.createIndex()
        coco_dt.createIndex()
        evaluator = COCOeval(coco_gt, coco_dt, iouType="segm")
        evaluator.params.maxDets = [1, 10, max_detections]
        evaluator.evaluate()
        evaluator.accumulate()
    log.debug("pycocotools:\n%s", chatter.getvalue())
    precision = evaluator.eval["precision"]  # (iou T, recall R, category K, area A, maxDets M)
    per_class = []
    for category in category_ids:
        p = precision[:, :, evaluator.params.catIds.index(category), 0, -1]
        per_class.append(float(p[p > -1].mean()) if np.any(p > -1) else math.nan)
    return _summary(evaluator), tuple(per_class)


def _summary(evaluator: Any) -> list[float]:
    """The twelve numbers of COCOeval.summarize, NaN for its -1.

    The same means as pycocotools, except that the first (AP) uses ``maxDets[2]`` like the
    other eleven: pycocotools takes it at 100 detections whatever ``maxDets`` says, which
    gives -1 for any other `max_detections` (detectron2's COCOevalMaxDets fixes it alike).
    """
    params = evaluator.params
    max_det = params.maxDets[2]

    def mean(
        kind: str, iou: float | None = None, area: str = "all", detections: int = max_det
    ) -> float:
        values = evaluator.eval[kind]  # precision (T, R, K, A, M), recall (T, K, A, M)
        if iou is not None:
            values = values[np.where(iou == params.iouThrs)[0]]
        values = values[..., params.areaRngLbl.index(area), params.maxDets.index(detections)]
        valid = values[values > -1]
        return float(np.mean(valid)) if valid.size else math.nan

    return [
        mean("precision"),
        mean("precision", iou=0.5),
        mean("precision", iou=0.75),
        *(mean("precision", area=area) for area in ("small", "medium", "large")),
        mean("recall", detections=params.maxDets[0]),
        mean("recall", detections=params.maxDets[1]),
        mean("recall"),
        *(mean("recall", area=area) for area in ("small", "medium", "large")),
    ]
