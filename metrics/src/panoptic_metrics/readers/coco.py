"""COCO panoptic: a JSON file (`annotations` with `image_id`, `file_name`, `segments_info`,
and `categories` for the ground truth) plus a folder of RGB-id PNGs, matched by image id.

Image ids may be integers (COCO) or strings (Cityscapes' panoptic JSON). The JSON is read and
checked whole in the parent process; each image's PNG is decoded when its `load` is called
(in a worker process during dataset evaluation).

What the reader keeps of a JSON is a few flat arrays (every image's segments concatenated, their
offsets, the images' sizes) and one list of image ids and file names, made after the parsed JSON
is freed: nothing allocated by the parse outlives it, so its memory goes back to the operating
system before evaluation forks its workers (benchmark/README.md, "Memory"). A source object per
image is built only when that image is looked up.
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import operator
import os
import pickle
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..categories import CategorySet
from ..errors import PanopticInputError
from ..io import DEFAULT_MAX_PIXELS, gc_paused, read_json, read_panoptic_png, safe_join
from ..lazy import LazyRows
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


def _narrow(values: np.ndarray) -> np.ndarray:
    """`values` (int64) as int32 where they all fit (COCO's ids, categories and areas do), to
    halve what a dataset's segments keep in memory in the parent and every worker."""
    if values.size == 0 or (values.min() >= -(2**31) and values.max() < 2**31):
        return values.astype(np.int32)
    return values


class SegmentTable(LazyRows[Segments]):
    """The segments of many images as four flat arrays: image k's are rows
    `offsets[k]:offsets[k + 1]`. Indexing gives that image's `Segments` (int64 and bool, as
    `Segments.from_info` makes them; kept as int32 where the values fit)."""

    def __init__(
        self,
        ids: np.ndarray,
        category_ids: np.ndarray,
        iscrowd: np.ndarray,
        areas: np.ndarray,
        offsets: np.ndarray,
    ):
        self.ids, self.category_ids = _narrow(ids), _narrow(category_ids)
        self.iscrowd, self.areas = iscrowd, _narrow(areas)
        self.offsets = offsets
        super().__init__(len(offsets) - 1)

    @classmethod
    def concat(cls, parts: Sequence[Segments]) -> SegmentTable:
        """One table of the segments of each image in `parts`."""
        counts = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

        def column(name: str, dtype: type) -> np.ndarray:
            arrays = [getattr(p, name) for p in parts]
            return np.concatenate(arrays).astype(dtype) if arrays else np.zeros(0, dtype)

        return cls(
            column("ids", np.int64),
            column("category_ids", np.int64),
            column("iscrowd", np.bool_),
            column("areas", np.int64),
            offsets,
        )

    def _item(self, k: int) -> Segments:
        a, b = int(self.offsets[k]), int(self.offsets[k + 1])
        return Segments(
            self.ids[a:b].astype(np.int64),
            self.category_ids[a:b].astype(np.int64),
            self.iscrowd[a:b].copy(),
            self.areas[a:b].astype(np.int64),
        )


class CocoImages(Mapping[ImageId, CocoPanopticSource]):
    """The images of a COCO-panoptic JSON by image id, in the JSON's order: a `Mapping` whose
    values (`CocoPanopticSource`) are built when looked up, from flat arrays."""

    def __init__(
        self,
        json_path: Path,
        folder: Path,
        image_ids: list[ImageId],
        file_names: list[str],
        segments: SegmentTable,
        sizes: np.ndarray,
        odd_sizes: dict[int, tuple[int, int]],
    ):
        self.json_path, self.folder = json_path, folder
        self.image_ids, self.file_names = image_ids, file_names
        self.segments = segments
        self.sizes = sizes  # (n, 2) int64 height and width, -1 where unknown (or in odd_sizes)
        self.odd_sizes = odd_sizes  # sizes an int64 array cannot hold (negative, huge), by row
        self.rows = {image_id: k for k, image_id in enumerate(image_ids)}

    def at(self, k: int) -> CocoPanopticSource:
        """The source of the image in row `k` (the JSON's k-th annotation)."""
        h, w = (int(v) for v in self.sizes[k])
        size = (h, w) if h >= 0 else self.odd_sizes.get(k)
        path = Path(self.folder, self.file_names[k])
        return CocoPanopticSource(path, self.segments[k], self.image_ids[k], self.json_path, size)

    def __getitem__(self, image_id: ImageId) -> CocoPanopticSource:
        return self.at(self.rows[image_id])

    def __contains__(self, image_id: object) -> bool:
        return image_id in self.rows

    def __iter__(self) -> Iterator[ImageId]:
        return iter(self.image_ids)

    def __len__(self) -> int:
        return len(self.image_ids)


@dataclass(frozen=True)
class CocoPanoptic:
    """A parsed COCO-panoptic JSON: its categories (None if it has none) and its images."""

    json_path: Path
    folder: Path
    categories: CategorySet | None
    images: CocoImages


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


@dataclass(frozen=True)
class _Packed:
    """What the reader keeps of a parsed JSON, holding no object the parse made: numpy arrays
    and one pickle of the image ids, file names and odd sizes (its objects are made afresh by
    `unpack`, once the parse is freed, so they do not keep its memory pages in use)."""

    json_path: Path
    folder: Path
    categories: CategorySet | None
    segments: SegmentTable
    sizes: np.ndarray
    pickled: bytes

    def unpack(self) -> CocoPanoptic:
        image_ids, file_names, odd_sizes = pickle.loads(self.pickled)
        images = CocoImages(
            self.json_path,
            self.folder,
            image_ids,
            file_names,
            self.segments,
            self.sizes,
            odd_sizes,
        )
        return CocoPanoptic(self.json_path, self.folder, self.categories, images)


def _trim_heap() -> None:
    """Hand the C heap's free pages back to the operating system (glibc's `malloc_trim`;
    elsewhere nothing): a parsed JSON freed leaves them resident, and forked workers would
    count them too."""
    if not sys.platform.startswith("linux"):
        return
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library the interpreter is linked with
    except (OSError, AttributeError):  # not glibc (e.g. musl has no malloc_trim)
        return
    trim(0)


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
    with gc_paused():  # hundreds of thousands of objects made and dropped, no cycles
        packed = _pack(read_json(json_path), json_path, folder, categories)
        _trim_heap()  # the parsed JSON is garbage now
        return packed.unpack()


def parse_coco_panoptic(
    data: Any,
    json_path: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    *,
    categories: CategorySet | None = None,
) -> CocoPanoptic:
    """`load_coco_panoptic` of a JSON already parsed: `data`, read from `json_path`."""
    return _pack(data, json_path, folder, categories).unpack()


def _pack(
    data: Any,
    json_path: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    categories: CategorySet | None,
) -> _Packed:
    """Check `data` (see `load_coco_panoptic`) and keep what evaluation needs of it."""
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
    table = bulk_segments(annotations, check)
    parts: list[Segments] = []
    rows: dict[ImageId, int] = {}
    names: list[str] = []
    shapes = np.full((len(annotations), 2), -1, dtype=np.int64)
    odd_sizes: dict[int, tuple[int, int]] = {}
    for k, ann in enumerate(annotations):
        where = f"{json_path} annotation #{k}"
        if not isinstance(ann, Mapping):
            raise PanopticInputError(where, "is not an object")
        image_id = image_id_of(ann.get("image_id"), where)
        where = f"{json_path} (image_id {image_id!r})"
        if image_id in rows:
            raise PanopticInputError(where, "duplicate image_id")
        rows[image_id] = k
        file_name = ann.get("file_name")
        safe_join(folder, file_name, source=where)  # refuses names that leave the folder
        names.append(str(file_name))
        if table is None:
            segments = Segments.from_info(ann.get("segments_info", []), source=where)
            if check is not None:
                check.index_of(segments.category_ids, source=where)
            parts.append(segments)
        size = sizes.get(image_id)
        if size is not None:
            if min(size) >= 0 and max(size) < 2**63:
                shapes[k] = size
            else:
                odd_sizes[k] = size
    pickled = pickle.dumps((list(rows), names, odd_sizes), protocol=pickle.HIGHEST_PROTOCOL)
    if table is None:
        table = SegmentTable.concat(parts)
    return _Packed(json_path, folder, own, table, shapes, pickled)


_ONLY_INT = frozenset((int,))


def bulk_segments(annotations: Any, check: CategorySet | None) -> SegmentTable | None:
    """The segments of every annotation's `segments_info`, parsed for all images at once,
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
        return SegmentTable.concat([])
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
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return SegmentTable(sid, cat, iscrowd == 1, area, offsets)


class ImagePairs(LazyRows[tuple[Any, Any]]):
    """(gt, prediction) sources in ground-truth order, each pair built when indexed (from a
    `CocoImages`' flat arrays): the pairs of a dataset cost a few bytes each until a worker
    loads them."""

    def __init__(self, gt: Callable[[int], Any], pred: Callable[[int], Any], pred_rows: np.ndarray):
        self.gt, self.pred, self.pred_rows = gt, pred, pred_rows
        super().__init__(len(pred_rows))

    def _item(self, k: int) -> tuple[Any, Any]:
        return self.gt(k), self.pred(int(self.pred_rows[k]))


def pair_images(
    gt: Mapping[ImageId, Any], pred: Mapping[ImageId, Any], *, gt_name: str, pred_name: str
) -> ImagePairs:
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
    gt_at = gt.at if isinstance(gt, CocoImages) else list(gt.values()).__getitem__
    if isinstance(pred, CocoImages):
        rows = np.fromiter(map(pred.rows.__getitem__, gt), dtype=np.int64, count=len(gt))
        return ImagePairs(gt_at, pred.at, rows)
    preds = [pred[i] for i in gt]
    return ImagePairs(gt_at, preds.__getitem__, np.arange(len(preds), dtype=np.int64))


def read_coco_panoptic_image(
    json_path: str | os.PathLike[str], folder: str | os.PathLike[str], image_id: ImageId
) -> PanopticImage:
    """Read one image of a COCO-panoptic set (convenience; datasets use `load_coco_panoptic`)."""
    images = load_coco_panoptic(json_path, folder).images
    if image_id not in images:
        raise PanopticInputError(str(json_path), f"no annotation for image_id {image_id!r}")
    return images[image_id].load()
