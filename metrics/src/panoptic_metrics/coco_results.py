"""COCO results JSON for instance segmentation: a list of detections
``{"image_id", "category_id", "segmentation": compressed RLE, "score"}``.

The files carry dataset category ids (docs/contracts.md §1) and no ``bbox``: pycocotools'
``loadRes`` takes the area of a detection from its box when there is one, which would change
the small/medium/large ranges of segm AP (detectron2 drops the boxes for the same reason).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from .checks import show
from .coco_instances import Detections, Rle, common_size, normalize_rle
from .errors import PanopticInputError
from .io import read_json, write_text_atomic
from .segmentation import ImageId, image_id_of

__all__ = ["read_coco_results", "write_coco_results"]

_KEYS = frozenset({"image_id", "category_id", "segmentation", "score"})


def write_coco_results(
    path: str | os.PathLike[str], detections: Mapping[ImageId, Detections]
) -> int:
    """Write the detections of every image to `path` atomically; returns how many."""
    results = [
        {
            "image_id": image_id,
            "category_id": category,
            "segmentation": {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")},
            "score": score,
        }
        for image_id, found in detections.items()
        for category, score, rle in zip(found.category_ids, found.scores, found.rles, strict=True)
    ]
    write_text_atomic(json.dumps(results, separators=(",", ":")), path)
    return len(results)


def _finite(number: float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an integer too large for a float
        return False


def _entry(entry: Any, where: str, category_ids: Collection[int]) -> tuple[ImageId, Any]:
    if not isinstance(entry, Mapping) or not entry.keys() >= _KEYS:
        raise PanopticInputError(where, "needs image_id, category_id, segmentation and score")
    image_id = image_id_of(entry["image_id"], where)
    category, score = entry["category_id"], entry["score"]
    if isinstance(category, bool) or not isinstance(category, int) or category not in category_ids:
        raise PanopticInputError(
            where, f"category_id {show(category)} is not one of {sorted(category_ids)}"
        )
    if isinstance(score, bool) or not isinstance(score, int | float) or not _finite(score):
        raise PanopticInputError(where, f"score must be a finite number, got {show(score)}")
    return image_id, (category, float(score), normalize_rle(entry["segmentation"], where))


def read_coco_results(
    path: str | os.PathLike[str], category_ids: Collection[int]
) -> dict[ImageId, Detections]:
    """The detections of a COCO results JSON, grouped by image in file order.

    Args:
        path: the JSON file.
        category_ids: the category ids a detection may carry.

    Raises:
        PanopticInputError: naming the file, the entry and the problem.
    """
    path = Path(path)
    entries = read_json(path)
    if not isinstance(entries, list):
        raise PanopticInputError(str(path), "a COCO results JSON is a list of detections")
    grouped: dict[ImageId, list[tuple[int, float, Rle]]] = {}
    for k, entry in enumerate(entries):
        image_id, item = _entry(entry, f"{path} entry {k}", category_ids)
        grouped.setdefault(image_id, []).append(item)
    return {
        image_id: Detections(
            size=common_size([rle for _, _, rle in items], f"{path} image {image_id!r}"),
            category_ids=tuple(c for c, _, _ in items),
            scores=tuple(s for _, s, _ in items),
            rles=tuple(rle for _, _, rle in items),
        )
        for image_id, items in grouped.items()
    }
