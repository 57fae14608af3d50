"""Cityscapes ground truth: `*_gtFine_instanceIds.png` read through cityscapesscripts' labels.

An instanceIds value v >= 1000 is a thing instance of label v // 1000; v < 1000 is the label
v itself (stuff, or a crowd group of a thing class). Labels with `ignoreInEval` are void. This
is cityscapesscripts' own COCO-panoptic conversion (`createPanopticImgs`): the segment id is
v, the category is the label id. cityscapesscripts is an optional extra, imported lazily.
`from_instance_ids` decodes the same encoding for any category set (IDD uses it too).
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..categories import Category, CategorySet
from ..errors import PanopticInputError
from ..io import DEFAULT_MAX_PIXELS, read_png_header
from ..png import PngError, read_grey
from ..segmentation import ImageId, PanopticImage, Segments
from .arrays import as_id_map

SUFFIX = "_gtFine_instanceIds.png"
INSTANCE_DIVISOR = 1000  # a thing instance is label * 1000 + k
MAX_INSTANCE_ID = 1 << 24  # the ids a COCO-panoptic PNG can hold


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


def from_instance_ids(
    values: Any,
    categories: CategorySet,
    *,
    void_labels: Collection[int] | None = None,
    image_id: ImageId | None = None,
    source: str = "<array>",
) -> PanopticImage:
    """A panoptic image from an (H, W) map in the Cityscapes instance-id encoding (IDD's too).

    A value v >= INSTANCE_DIVISOR is an instance of label v // INSTANCE_DIVISOR; a smaller v is
    label v itself: stuff, or a crowd group of a thing class. Labels outside `categories` are
    void; given `void_labels`, only those are, and any other label is an error. The segment id
    is v, as in cityscapesscripts' panoptic conversion, or v + 1 where label 0 is a category
    (IDD's road), since 0 is void; `areas` are the pixel counts.
    """
    values = as_id_map(values, source=source).astype(np.int64)
    if values.size and (values.min() < 0 or values.max() >= MAX_INSTANCE_ID):
        raise PanopticInputError(source, f"instance ids must be in 0..{MAX_INSTANCE_ID - 1}")
    counts = np.bincount(values.ravel(), minlength=1)
    present = np.flatnonzero(counts)
    labels = np.where(present >= INSTANCE_DIVISOR, present // INSTANCE_DIVISOR, present)
    keep = np.isin(labels, categories.ids)
    if void_labels is not None:
        unknown = present[~keep & ~np.isin(labels, list(void_labels))]
        if unknown.size:
            raise PanopticInputError(
                source, f"values {unknown.tolist()} have no label (neither a category nor void)"
            )
    kept, kept_labels = present[keep], labels[keep]
    ids = kept + int(np.any(categories.ids == 0))
    lut = np.zeros(len(counts), dtype=np.int64)
    lut[kept] = ids
    isthing = categories.isthing[categories.index_of(kept_labels, source=source)]
    segments = Segments(
        ids=ids,
        category_ids=kept_labels,
        iscrowd=isthing & (kept < INSTANCE_DIVISOR),
        areas=counts[kept],
    )
    return PanopticImage(lut[values], segments, image_id, source)


def read_cityscapes_instance_ids(
    path: str | os.PathLike[str],
    *,
    categories: CategorySet | None = None,
    image_id: ImageId | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> PanopticImage:
    """A ground-truth panoptic image from a Cityscapes `*_gtFine_instanceIds.png` (see
    `from_instance_ids`), or an instance-id PNG of another label set with `categories`.

    Raises:
        PanopticInputError: not a greyscale PNG, corrupt, too large, or (Cityscapes) a value
            whose label is not in cityscapesscripts' label table.
    """
    path = Path(path)
    void: set[int] | None = None
    if categories is None:
        categories = cityscapes_categories()
        void = {lab.id for lab in _labels() if lab.ignoreInEval}
    if image_id is None:
        image_id = path.name.removesuffix(SUFFIX)
    values = _decode_instance_ids(path, max_pixels)
    return from_instance_ids(
        values, categories, void_labels=void, image_id=image_id, source=str(path)
    )


@dataclass(frozen=True)
class CityscapesSource:
    """One Cityscapes ground-truth image, loadable in a worker (picklable)."""

    path: Path
    image_id: ImageId
    categories: CategorySet | None = None  # None: Cityscapes' own labels

    def load(
        self,
        *,
        expected_shape: tuple[int, int] | None = None,
        out: np.ndarray | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> PanopticImage:
        """Read the image; `out` is unused (the map is small-valued and read whole)."""
        image = read_cityscapes_instance_ids(
            self.path, categories=self.categories, image_id=self.image_id, max_pixels=max_pixels
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
