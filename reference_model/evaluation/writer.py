"""Predictions on disk (docs/contracts.md §4): `predictions/panoptic/<image id>.png` and
`predictions/panoptic.json`, the COCO-panoptic form `panoptic-metrics evaluate` reads.

Each rank writes the PNGs of its own images (each atomically); the annotations of every rank
are gathered and rank 0 writes the JSON, atomically, once all PNGs are there, so a JSON on
disk always names PNGs that exist.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch.distributed as dist
from panoptic_metrics import PanopticImage, Segments
from panoptic_metrics.io import write_json_atomic, write_png_atomic
from panoptic_metrics.segmentation import ImageId

from reference_model.data import ClassMapping
from reference_model.prediction import PanopticPrediction, to_coco_panoptic

# Image ids become file names: letters, digits, '_', '-' and '.', not starting with '.'.
SAFE_NAME = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*")


def file_name_of(image_id: ImageId) -> str:
    """`<image id>.png`; ValueError for an id that is not a plain file name (a hostile JSON)."""
    name = str(image_id)
    if not SAFE_NAME.fullmatch(name) or len(name) > 200:
        raise ValueError(
            f"image id {image_id!r} cannot name a prediction file (letters, digits, '_', '-' "
            "and '.' only)"
        )
    return f"{name}.png"


class PredictionWriter:
    """Writes one rank's predictions; `finish` writes the JSON of all ranks.

    Args:
        folder: the run's `predictions/` folder.
        classes: the dataset's classes (class index -> category id).
    """

    def __init__(self, folder: Path, classes: ClassMapping) -> None:
        self.folder = folder
        self.png_folder = folder / "panoptic"
        self.png_folder.mkdir(parents=True, exist_ok=True)
        self.classes = classes
        self.annotations: list[dict[str, Any]] = []
        self.images: list[dict[str, Any]] = []

    def add(self, image_id: ImageId, prediction: PanopticPrediction) -> PanopticImage:
        """Write the image's PNG; returns the prediction as panoptic_metrics reads it back."""
        name = file_name_of(image_id)
        rgb, annotation = to_coco_panoptic(
            prediction,
            category_ids=self.classes.category_ids,
            image_id=image_id,
            file_name=name,
        )
        write_png_atomic(rgb, self.png_folder / name)
        self.annotations.append(annotation)
        h, w = rgb.shape[:2]
        self.images.append({"id": image_id, "file_name": name, "height": h, "width": w})
        segments = Segments.from_info(annotation["segments_info"], source=name)
        return PanopticImage(prediction.panoptic.numpy(), segments, image_id, name)

    def finish(self, *, distributed: bool, is_main: bool) -> Path:
        """Gather every rank's annotations (under torch.distributed) and write
        predictions/panoptic.json on rank 0; call on every rank."""
        annotations, images = self.annotations, self.images
        if distributed:
            parts: list[Any] = [None] * dist.get_world_size()
            dist.all_gather_object(parts, (annotations, images))
            annotations = [a for part, _ in parts for a in part]
            images = [i for _, part in parts for i in part]
        path = self.folder / "panoptic.json"
        if is_main:
            write_json_atomic(_coco_panoptic(annotations, images, self.classes), path)
        return path


def _coco_panoptic(
    annotations: Sequence[dict[str, Any]], images: Sequence[dict[str, Any]], classes: ClassMapping
) -> dict[str, Any]:
    order = sorted(range(len(images)), key=lambda k: str(images[k]["id"]))
    return {
        "images": [images[k] for k in order],
        "annotations": [annotations[k] for k in order],
        "categories": classes.categories.to_coco(),
    }
