"""Cityscapes ground truth: `*_gtFine_instanceIds.png` read through cityscapesscripts' labels.

An instanceIds value v >= 1000 is a thing instance of label v // 1000; v < 1000 is the label
v itself (stuff, or a crowd group of a thing class). Labels with `ignoreInEval` are void. This
is cityscapesscripts' own COCO-panoptic conversion (`createPanopticImgs`): the segment id is
v, the category is the label id. cityscapesscripts is an optional extra, imported lazily.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..categories import Category, CategorySet
from ..errors import PanopticInputError
from ..io import DEFAULT_MAX_PIXELS, read_png_header
from ..png import PngError, read_grey
from ..segmentation import ImageId, PanopticImage, Segments

SUFFIX = "_gtFine_instanceIds.png"
INSTANCE_DIVISOR = 1000


def _labels() -> list[Any]:
    try:
        from cityscapesscripts.helpers import labels
    except ImportError:
        raise ImportError(
            "reading Cityscapes ground truth needs cityscapesscripts: "
            "pip install 'panoptic-metrics[cityscapes]'"
        ) from None
    return list(labels.labels)


def cityscapes_categories() -> CategorySet:
    """The 19 evaluated Cityscapes classes (label ids), things = labels with instances."""
    return CategorySet(
        tuple(
            Category(lab.id, lab.name, bool(lab.hasInstances))
            for lab in _labels()
            if not lab.ignoreInEval
        )
    )


def _decode_instance_ids(path: Path, max_pixels: int) -> np.ndarray:
    header = read_png_header(path)
    if header.colour_type != 0 or header.bit_depth not in (8, 16):
        raise PanopticInputError(
            str(path), "instanceIds PNGs must be 8- or 16-bit greyscale (Cityscapes gtFine)"
        )
    if not 0 < header.width * header.height <= max_pixels:
        raise PanopticInputError(
            str(path),
            f"is {header.width}x{header.height}, outside 1..{max_pixels} pixels "
            "(a decompression bomb? raise max_pixels if the image is genuine)",
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PanopticInputError(str(path), f"cannot read the file ({exc})") from None
    try:
        values = read_grey(data, name=str(path), max_pixels=max_pixels)
    except PngError as exc:
        raise PanopticInputError(str(path), f"corrupt or truncated PNG ({exc.problem})") from None
    return values.astype(np.int64)


def read_cityscapes_instance_ids(
    path: str | os.PathLike[str],
    *,
    image_id: ImageId | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> PanopticImage:
    """A ground-truth panoptic image from a Cityscapes `*_gtFine_instanceIds.png`.

    Raises:
        PanopticInputError: not a greyscale PNG, corrupt, too large, or a value whose label
            is not in cityscapesscripts' label table.
    """
    path = Path(path)
    values = _decode_instance_ids(path, max_pixels)
    counts = np.bincount(values.ravel(), minlength=1)
    present = np.flatnonzero(counts)
    by_id = {lab.id: lab for lab in _labels()}
    label_of = np.where(present >= INSTANCE_DIVISOR, present // INSTANCE_DIVISOR, present)
    unknown = [int(v) for v, lab in zip(present, label_of, strict=True) if int(lab) not in by_id]
    if unknown:
        raise PanopticInputError(str(path), f"values {unknown} have no Cityscapes label")
    labels = [by_id[int(lab)] for lab in label_of]
    keep = np.array([not lab.ignoreInEval for lab in labels], dtype=bool)
    lut = np.where(keep, present, 0)
    segment_map = np.zeros(len(counts), dtype=np.int64)
    segment_map[present] = lut
    crowd = [
        bool(lab.hasInstances) and v < INSTANCE_DIVISOR
        for v, lab in zip(present, labels, strict=True)
    ]
    segments = Segments(
        ids=present[keep].astype(np.int64),
        category_ids=np.array([lab.id for lab in labels], dtype=np.int64)[keep]
        if labels
        else np.zeros(0, np.int64),
        iscrowd=np.array(crowd, dtype=bool)[keep] if labels else np.zeros(0, bool),
        areas=counts[present][keep].astype(np.int64),
    )
    if image_id is None:
        image_id = path.name.removesuffix(SUFFIX)
    return PanopticImage(segment_map[values], segments, image_id, str(path))


@dataclass(frozen=True)
class CityscapesSource:
    """One Cityscapes ground-truth image, loadable in a worker (picklable)."""

    path: Path
    image_id: ImageId

    def load(
        self,
        *,
        expected_shape: tuple[int, int] | None = None,
        out: np.ndarray | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> PanopticImage:
        """Read the image; `out` is unused (the map is small-valued and read whole)."""
        image = read_cityscapes_instance_ids(
            self.path, image_id=self.image_id, max_pixels=max_pixels
        )
        if expected_shape is not None and image.ids.shape != tuple(expected_shape):
            raise PanopticInputError(
                str(self.path), f"has shape {image.ids.shape}, expected {tuple(expected_shape)}"
            )
        return image


def cityscapes_sources(gt_folder: str | os.PathLike[str]) -> dict[ImageId, CityscapesSource]:
    """Every `*_gtFine_instanceIds.png` under `gt_folder` (e.g. gtFine/val), sorted by name,
    keyed by its image id `{city}_{sequence}_{frame}`."""
    folder = Path(gt_folder)
    if not folder.is_dir():
        raise PanopticInputError(str(folder), "folder not found")
    paths = sorted(folder.rglob(f"*{SUFFIX}"))
    if not paths:
        raise PanopticInputError(str(folder), f"no *{SUFFIX} files found")
    return {
        p.name.removesuffix(SUFFIX): CityscapesSource(p, p.name.removesuffix(SUFFIX)) for p in paths
    }
