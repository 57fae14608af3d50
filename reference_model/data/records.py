"""One image of a dataset on disk (`PanopticRecord`), its ground truth read by panoptic_metrics.

Every dataset layout (Cityscapes, the synthetic data, Mapillary Vistas, COCO, IDD) turns into
a list of records whose ground truth panoptic_metrics' own readers load, so that training
reads its data with the checks and error messages of the evaluation; everything downstream
(targets, augmentation) is shared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from panoptic_metrics import PanopticInputError
from panoptic_metrics.io import read_json
from panoptic_metrics.readers.cityscapes import CityscapesSource
from panoptic_metrics.readers.coco import CocoPanopticSource, parse_coco_panoptic
from panoptic_metrics.segmentation import ImageId

from .categories import ClassMapping


class DatasetError(ValueError):
    """A dataset on disk is missing, incomplete or malformed; the message says how to fix it."""


@contextmanager
def dataset_errors(how_to_prepare: str = "") -> Iterator[None]:
    """Re-raise panoptic_metrics' PanopticInputError (which names the file and the problem)
    as a DatasetError with the same message, followed by `how_to_prepare`."""
    try:
        yield
    except PanopticInputError as err:
        raise DatasetError(f"{err} {how_to_prepare}".rstrip()) from err


@dataclass(frozen=True)
class PanopticRecord:
    """Where one image and its panoptic ground truth live.

    Attributes:
        image_id: the dataset's image id (a string for Cityscapes and Vistas, an int for COCO).
        image_path: the RGB image.
        ground_truth: its ground truth as panoptic_metrics reads it: a COCO-panoptic PNG with
            the JSON's segments, or a Cityscapes-encoded instance-id PNG (IDD).
    """

    image_id: ImageId
    image_path: Path
    ground_truth: CocoPanopticSource | CityscapesSource


@dataclass(frozen=True)
class DatasetSource:
    """A split of a dataset: its classes, its images, and its COCO-panoptic ground truth.

    Attributes:
        name: the dataset ("cityscapes", "synthetic", "vistas", "idd", "coco").
        split: the split name as the dataset calls it.
        classes: the evaluated classes in contiguous order.
        records: one per image, sorted as the dataset lists them.
        gt_json, gt_folder: COCO-panoptic ground truth for `panoptic-metrics evaluate`, where
            the dataset ships one (None for IDD's instance-id PNGs).
    """

    name: str
    split: str
    classes: ClassMapping
    records: tuple[PanopticRecord, ...]
    gt_json: Path | None
    gt_folder: Path | None


def coco_panoptic_records(
    json_path: Path,
    png_folder: Path,
    image_path: Callable[[Mapping[str, Any]], Path],
    *,
    how_to_prepare: str,
) -> tuple[ClassMapping, tuple[PanopticRecord, ...]]:
    """Read a COCO-panoptic JSON into records (`panoptic_metrics.readers.parse_coco_panoptic`).

    Args:
        json_path: the JSON (`images`, `annotations`, `categories`).
        png_folder: the folder of its RGB-id PNGs (annotation `file_name`s are inside it).
        image_path: where the RGB image of an `images` entry lives (layouts differ).
        how_to_prepare: appended to every error: how to create the missing files.
    """
    with dataset_errors(how_to_prepare):
        data = read_json(json_path)
        coco = parse_coco_panoptic(data, json_path, png_folder)
    if coco.categories is None or not isinstance(data.get("images"), list):
        raise DatasetError(
            f"{json_path}: not a COCO-panoptic dataset (needs lists images and categories). "
            f"{how_to_prepare}"
        )
    images: dict[ImageId, Mapping[str, Any]] = {}
    for entry in data["images"]:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), int | str):
            raise DatasetError(f"{json_path}: an images entry has no id: {entry!r}")
        images[entry["id"]] = entry
    records = []
    for image_id, ground_truth in coco.images.items():
        if image_id not in images:
            raise DatasetError(f"{json_path}: annotation for unknown image id {image_id!r}")
        with dataset_errors():
            records.append(PanopticRecord(image_id, image_path(images[image_id]), ground_truth))
    if not records:
        raise DatasetError(f"{json_path} lists no annotated images. {how_to_prepare}")
    return ClassMapping(coco.categories), tuple(records)
