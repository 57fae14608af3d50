"""One image of a dataset on disk (`PanopticRecord`), and the COCO-panoptic JSON reader.

Every dataset layout (Cityscapes, the synthetic data, Mapillary Vistas, COCO, IDD) turns into
a list of records; everything downstream (decoding, targets, augmentation) is shared.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .categories import ClassMapping

Encoding = Literal["rgb", "instance_ids"]


class DatasetError(ValueError):
    """A dataset on disk is missing, incomplete or malformed; the message says how to fix it."""


@dataclass(frozen=True)
class Segment:
    """One ground-truth segment of a COCO-panoptic annotation."""

    id: int
    category_id: int
    iscrowd: bool


@dataclass(frozen=True)
class PanopticRecord:
    """Where one image and its panoptic ground truth live.

    Attributes:
        image_id: the dataset's image id (a string for Cityscapes and Vistas, an int for COCO).
        image_path: the RGB image.
        panoptic_path: the ground-truth PNG.
        encoding: "rgb" (COCO panoptic: id = R + 256 G + 256^2 B, segments from the JSON) or
            "instance_ids" (Cityscapes-style ids: class * 1000 + k for thing instances, the bare
            class id for stuff and crowd groups; segments are read from the pixels).
        segments: the JSON's `segments_info` for "rgb"; empty for "instance_ids".
    """

    image_id: str | int
    image_path: Path
    panoptic_path: Path
    encoding: Encoding
    segments: tuple[Segment, ...] = ()


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


def inside(folder: Path, name: object, *, what: str, source: Path) -> Path:
    """`folder / name`, refusing names that are not plain relative paths inside `folder`."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise DatasetError(f"{source}: {what} must be a non-empty file name, got {name!r}")
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts or name.startswith(("/", "\\")):
        raise DatasetError(f"{source}: {what} {name!r} points outside {folder}")
    return folder / relative


def read_json(path: Path, *, how_to_prepare: str) -> Any:
    """Load a JSON file; a missing or unparsable file is a DatasetError saying how to prepare it."""
    if not path.is_file():
        raise DatasetError(f"{path} is missing. {how_to_prepare}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DatasetError(f"{path} is not valid JSON ({err}). {how_to_prepare}") from err


def _segments(ann: Mapping[str, Any], source: Path) -> tuple[Segment, ...]:
    try:
        segments = tuple(
            Segment(int(s["id"]), int(s["category_id"]), bool(s.get("iscrowd", 0)))
            for s in ann["segments_info"]
        )
    except (KeyError, TypeError, ValueError) as err:
        raise DatasetError(
            f"{source}: annotation of image {ann.get('image_id')!r} has a malformed "
            f"segments_info (each needs id and category_id): {err}"
        ) from err
    ids = [s.id for s in segments]
    if len(set(ids)) != len(ids):
        raise DatasetError(f"{source}: image {ann.get('image_id')!r} repeats a segment id")
    if any(i <= 0 or i >= 256**3 for i in ids):
        raise DatasetError(
            f"{source}: image {ann.get('image_id')!r} has a segment id outside 1..2^24-1"
        )
    return segments


def coco_panoptic_records(
    json_path: Path,
    png_folder: Path,
    image_path: Callable[[Mapping[str, Any]], Path],
    *,
    how_to_prepare: str,
) -> tuple[ClassMapping, tuple[PanopticRecord, ...]]:
    """Read a COCO-panoptic JSON into records.

    Args:
        json_path: the JSON (`images`, `annotations`, `categories`).
        png_folder: the folder of its RGB-id PNGs (annotation `file_name`s are inside it).
        image_path: where the RGB image of an `images` entry lives (layouts differ).
        how_to_prepare: appended to every error: how to create the missing files.
    """
    data = read_json(json_path, how_to_prepare=how_to_prepare)
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), list) for k in ("images", "annotations", "categories")
    ):
        raise DatasetError(
            f"{json_path}: not a COCO-panoptic JSON (needs lists images, annotations and "
            f"categories). {how_to_prepare}"
        )
    classes = ClassMapping.from_coco(data["categories"], source=str(json_path))
    known = set(classes.category_ids)
    images: dict[Any, Mapping[str, Any]] = {}
    for entry in data["images"]:
        if not isinstance(entry, dict) or "id" not in entry:
            raise DatasetError(f"{json_path}: an images entry has no id: {entry!r}")
        images[entry["id"]] = entry
    records = []
    for ann in data["annotations"]:
        if not isinstance(ann, dict) or ann.get("image_id") not in images:
            image_id = ann.get("image_id") if isinstance(ann, dict) else ann
            raise DatasetError(f"{json_path}: annotation for unknown image id {image_id!r}")
        segments = _segments(ann, json_path)
        unknown = sorted({s.category_id for s in segments} - known)
        if unknown:
            raise DatasetError(
                f"{json_path}: image {ann['image_id']!r} uses category ids {unknown} "
                "that are not in its categories"
            )
        png = inside(
            png_folder, ann.get("file_name"), what="annotation file_name", source=json_path
        )
        records.append(
            PanopticRecord(
                image_id=ann["image_id"],
                image_path=image_path(images[ann["image_id"]]),
                panoptic_path=png,
                encoding="rgb",
                segments=segments,
            )
        )
    if not records:
        raise DatasetError(f"{json_path} lists no annotated images. {how_to_prepare}")
    return classes, tuple(records)
