"""The thing instances of panoptic images, for mask AP: thing segments become instances, crowd
segments ``iscrowd`` instances; stuff and void are not instances.

`instances_from_panoptic` converts one decoded image (in memory, or in the worker that has
just decoded it for PQ: one pass over the data serves both); `read_panoptic_instances` reads
a whole COCO-panoptic ground truth through the library's one COCO-panoptic reader and its one
PNG decoder, so every check and message of those applies here too.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Collection
from pathlib import Path

import numpy as np

from . import kernels
from .categories import CategorySet
from .coco_instances import ImageInstances, Rle, require_pycocotools
from .errors import PanopticInputError
from .io import DEFAULT_MAX_PIXELS
from .readers.coco import CocoPanopticSource, load_coco_panoptic
from .segmentation import ImageId, PanopticImage

__all__ = ["instances_from_panoptic", "read_panoptic_instances"]


def _segment_rles(image: PanopticImage) -> list[Rle]:
    """The compressed COCO RLE of every segment of `image` (list order), ids checked."""
    h, w = image.ids.shape
    runs, owner, status, value = kernels.segment_rles(image.ids, *image.segments.dense_lookup())
    if status != kernels.OK:
        raise image.unknown_id(value)
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(1, len(image.segments) + 2))
    runs = runs[order]
    image.check_areas(np.diff(bounds))  # a listed segment owns runs iff it has pixels
    mask_utils = require_pycocotools()
    return [
        mask_utils.frPyObjects({"size": [h, w], "counts": runs[a:b].tolist()}, h, w)
        for a, b in itertools.pairwise(bounds.tolist())
    ]


def instances_from_panoptic(image: PanopticImage, thing_ids: Collection[int]) -> ImageInstances:
    """The instances of the `thing_ids` categories in a panoptic image.

    Raises:
        PanopticInputError: an id of the map that no segment lists, or a listed segment
            without pixels.
    """
    rles = _segment_rles(image)
    segments = image.segments
    keep = np.flatnonzero(np.isin(segments.category_ids, np.fromiter(thing_ids, np.int64)))
    return ImageInstances(
        height=int(image.ids.shape[0]),
        width=int(image.ids.shape[1]),
        category_ids=tuple(int(segments.category_ids[k]) for k in keep),
        rles=tuple({"size": rles[k]["size"], "counts": rles[k]["counts"]} for k in keep),
        iscrowd=tuple(bool(segments.iscrowd[k]) for k in keep),
    )


def _load(source: CocoPanopticSource, max_pixels: int) -> PanopticImage:
    """Decode one ground-truth PNG, checking its size against the JSON's `images` entry."""
    if source.size is None:
        raise PanopticInputError(
            source.source, "the JSON's images list has no entry with its height and width"
        )
    image = source.load(max_pixels=max_pixels)
    if image.ids.shape != source.size:
        (h, w), (json_h, json_w) = image.ids.shape, source.size
        raise PanopticInputError(
            source.source,
            f"the PNG is {w}x{h} (width x height) but its images entry says {json_w}x{json_h}",
        )
    return image


def read_panoptic_instances(
    json_path: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    thing_ids: Collection[int] | None = None,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[CategorySet, dict[ImageId, ImageInstances]]:
    """The thing instances of a COCO-panoptic ground truth.

    Returns ``(categories, instances)``: the JSON's categories and the instances of every
    annotated image by image id. `thing_ids` (default all things) are checked against the
    JSON's categories before any PNG is read; errors are those of `load_coco_panoptic`, and a
    PNG whose size differs from its ``images`` entry.
    """
    json_path = Path(json_path)
    coco = load_coco_panoptic(json_path, folder)
    if coco.categories is None:
        raise PanopticInputError(str(json_path), "the ground-truth JSON has no 'categories'")
    selected = coco.categories.thing_ids
    if thing_ids is not None:
        for category in thing_ids:
            if category not in selected:
                raise PanopticInputError(
                    str(json_path), f"category {category} is not a thing category there"
                )
        selected = tuple(thing_ids)
    instances = {
        image_id: instances_from_panoptic(_load(source, max_pixels), selected)
        for image_id, source in coco.images.items()
    }
    return coco.categories, instances
