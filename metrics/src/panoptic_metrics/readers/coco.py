"""COCO panoptic: a JSON file (`annotations` with `image_id`, `file_name`, `segments_info`,
and `categories` for the ground truth) plus a folder of RGB-id PNGs, matched by image id.

Image ids may be integers (COCO) or strings (Cityscapes' panoptic JSON). The JSON is read and
checked whole in the parent process; each image's PNG is decoded when its `load` is called
(in a worker process during dataset evaluation).
"""

from __future__ import annotations

import itertools
import logging
import operator
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..categories import CategorySet
from ..errors import PanopticInputError
from ..io import DEFAULT_MAX_PIXELS, read_json, read_panoptic_png, safe_join
from ..segmentation import ImageId, PanopticImage, Segments, image_id_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CocoPanopticSource:
    """One image of a COCO-panoptic set: its PNG path and its parsed segments (picklable).

    `size` is the (height, width) of the image's entry in the JSON's `images` list, None
    where the JSON has none (prediction files often do not list their images).
    """

    path: Path
    segments: Segments
    image_id: ImageId
    json_path: Path
    size: tuple[int, int] | None = None

    @property
    def source(self) -> str:
        return f"{self.path} (image_id {self.image_id!r} of {self.json_path})"

    def load(
        self,
        *,
        expected_shape: tuple[int, int] | None = None,
        out: np.ndarray | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> PanopticImage:
        """Decode the PNG (see `read_panoptic_png`) into a `PanopticImage`."""
        try:
            ids = read_panoptic_png(
                self.path, expected_shape=expected_shape, out=out, max_pixels=max_pixels
            )
        except PanopticInputError as exc:
            raise PanopticInputError(self.source, exc.problem) from None
        return PanopticImage(ids, self.segments, self.image_id, self.source)


@dataclass(frozen=True)
class CocoPanoptic:
    """A parsed COCO-panoptic JSON: its categories (None if it has none) and its images."""

    json_path: Path
    folder: Path
    categories: CategorySet | None
    images: dict[ImageId, CocoPanopticSource]


def _image_sizes(images: Any) -> dict[ImageId, tuple[int, int]]:
    """(height, width) of the entries of a COCO `images` list that give them, by image id.

    PQ does not need them (panopticapi ignores them), so entries without a size are skipped.
    """
    sizes: dict[ImageId, tuple[int, int]] = {}
    for image in images if isinstance(images, list) else ():
        if not isinstance(image, Mapping):
            continue
        image_id, h, w = image.get("id"), image.get("height"), image.get("width")
        if isinstance(image_id, int | str) and isinstance(h, int) and isinstance(w, int):
            sizes[image_id] = (h, w)
    return sizes


def load_coco_panoptic(
    json_path: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    *,
    categories: CategorySet | None = None,
) -> CocoPanoptic:
    """Read and check a COCO-panoptic JSON and the PNG paths it names.

    Args:
        json_path: the JSON file.
        folder: the folder of its PNGs (must exist).
        categories: check every segment's category against these (ground-truth categories
            for a prediction file); by default the JSON's own `categories`, if any.

    Raises:
        PanopticInputError: unreadable JSON, a missing folder, a malformed annotation, a
            duplicate image id, a hostile `file_name`, duplicate segment
            ids, unknown categories.
    """
    return parse_coco_panoptic(read_json(json_path), json_path, folder, categories=categories)


def parse_coco_panoptic(
    data: Any,
    json_path: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    *,
    categories: CategorySet | None = None,
) -> CocoPanoptic:
    """`load_coco_panoptic` of a JSON already parsed: `data`, read from `json_path`."""
    json_path, folder = Path(json_path), Path(folder)
    if not isinstance(data, Mapping) or not isinstance(data.get("annotations"), list):
        raise PanopticInputError(str(json_path), "expected an object with an 'annotations' list")
    if not folder.is_dir():
        raise PanopticInputError(str(folder), "folder not found")
    own = data.get("categories")
    if own is not None:
        own = CategorySet.from_coco(own, source=f"{json_path} categories")
    check = categories or own
    sizes = _image_sizes(data.get("images"))
    annotations = data["annotations"]
    parsed = bulk_segments(annotations, check)
    images: dict[ImageId, CocoPanopticSource] = {}
    for k, ann in enumerate(annotations):
        where = f"{json_path} annotation #{k}"
        if not isinstance(ann, Mapping):
            raise PanopticInputError(where, "is not an object")
        image_id = image_id_of(ann.get("image_id"), where)
        where = f"{json_path} (image_id {image_id!r})"
        if image_id in images:
            raise PanopticInputError(where, "duplicate image_id")
        path = safe_join(folder, ann.get("file_name"), source=where)
        if parsed is None:
            segments = Segments.from_info(ann.get("segments_info", []), source=where)
            if check is not None:
                check.index_of(segments.category_ids, source=where)
        else:
            segments = parsed[k]
        size = sizes.get(image_id)
        images[image_id] = CocoPanopticSource(path, segments, image_id, json_path, size)
    return CocoPanoptic(json_path, folder, own, images)


_ONLY_INT = frozenset((int,))


def bulk_segments(annotations: Any, check: CategorySet | None) -> list[Segments] | None:
    """The `Segments` of every annotation's `segments_info`, parsed for all images at once,
    or None when anything is out of the ordinary: then `Segments.from_info` parses each image
    (and raises its errors, with their messages, in annotation order).

    The fast path takes only what `Segments.from_info` accepts unchanged: objects whose `id`,
    `category_id`, `iscrowd` (0 or 1) and `area` (>= 1) are plain integers within int64, ids
    positive and unique per image, categories in `check`. A COCO JSON holds one object per
    segment (40 000 for 2000 images); here each field is gathered by one C-level pass and
    checked with numpy instead of a Python call per segment.
    """
    if type(annotations) is not list or set(map(type, annotations)) - {dict}:
        return None
    if not annotations:
        return []
    infos = [ann.get("segments_info", []) for ann in annotations]
    if set(map(type, infos)) - {list}:
        return None
    flat: list[Any] = list(itertools.chain.from_iterable(infos))
    if set(map(type, flat)) - {dict}:
        return None
    try:
        ids = list(map(operator.itemgetter("id"), flat))
        category_ids = list(map(operator.itemgetter("category_id"), flat))
    except KeyError:
        return None
    crowd = [item.get("iscrowd", 0) for item in flat]
    areas = [item.get("area", -1) for item in flat]
    for values in (ids, category_ids, crowd, areas):
        if set(map(type, values)) - _ONLY_INT:
            return None
    try:
        table = np.array([ids, category_ids, crowd, areas], dtype=np.int64).reshape(4, len(flat))
    except OverflowError:  # an integer beyond int64
        return None
    sid, cat, iscrowd, area = table
    if np.any(sid <= 0) or np.any((iscrowd != 0) & (iscrowd != 1)):
        return None
    small = np.flatnonzero(area < 1)  # allowed only as the -1 of an absent area
    if any(area[i] != -1 or "area" in flat[i] for i in small.tolist()):
        return None
    counts = np.fromiter(map(len, infos), dtype=np.int64, count=len(infos))
    owner = np.repeat(np.arange(len(infos)), counts)
    order = np.lexsort((sid, owner))
    same = (sid[order][1:] == sid[order][:-1]) & (owner[order][1:] == owner[order][:-1])
    if np.any(same):  # a duplicate segment id within an image
        return None
    if check is not None:
        try:
            check.index_of(cat, source="")
        except PanopticInputError:
            return None
    bounds = np.cumsum(counts)[:-1]
    columns = (np.split(column, bounds) for column in (sid, cat, iscrowd == 1, area))
    return [Segments(*parts) for parts in zip(*columns, strict=True)]


def pair_images(
    gt: Mapping[ImageId, Any], pred: Mapping[ImageId, Any], *, gt_name: str, pred_name: str
) -> list[tuple[Any, Any]]:
    """(gt, pred) pairs in ground-truth order; a gt image without a prediction is an error,
    predictions of images outside the ground truth are ignored with a warning."""
    missing = [i for i in gt if i not in pred]
    if missing:
        shown = ", ".join(repr(i) for i in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise PanopticInputError(
            pred_name,
            f"no prediction for {len(missing)} ground-truth image(s) of {gt_name}: {shown}",
        )
    extra = len(pred) - len(gt)
    if extra > 0:
        log.warning("%s: %d predicted images are not in %s; ignored", pred_name, extra, gt_name)
    return [(g, pred[i]) for i, g in gt.items()]


def read_coco_panoptic_image(
    json_path: str | os.PathLike[str], folder: str | os.PathLike[str], image_id: ImageId
) -> PanopticImage:
    """Read one image of a COCO-panoptic set (convenience; datasets use `load_coco_panoptic`)."""
    images = load_coco_panoptic(json_path, folder).images
    if image_id not in images:
        raise PanopticInputError(str(json_path), f"no annotation for image_id {image_id!r}")
    return images[image_id].load()
