"""One panoptic image in memory: a segment-id map and the list of its segments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .checks import fits_int64, is_int, is_text, show
from .errors import PanopticInputError

ImageId = str | int


def image_id_of(value: Any, source: str) -> ImageId:
    """`value` as an image id: a str, or an int (numpy integers become ints; bools refused).

    COCO numbers its images, Cityscapes' panoptic JSON names them with strings.
    """
    if isinstance(value, str):
        if not is_text(value):
            raise PanopticInputError(source, f"image_id {show(value)} is not valid text")
        return value
    if is_int(value):
        if not fits_int64(int(value)):
            raise PanopticInputError(source, f"image_id {show(value)} does not fit 64 bits")
        return int(value)
    raise PanopticInputError(source, f"image_id must be an integer or a string, got {show(value)}")


# Maps are int64 or uint32 (what the PNG reader returns); other integer types are converted.
MAP_DTYPES = (np.dtype(np.int64), np.dtype(np.uint32))


@dataclass(frozen=True, eq=False)
class Segments:
    """The segments of one image, as parallel arrays (one entry per segment).

    Attributes:
        ids: (n,) int64 segment ids, positive and unique (0 is void).
        category_ids: (n,) int64 category of each segment.
        iscrowd: (n,) bool crowd flag (used on the ground-truth side only).
        areas: (n,) int64 area declared in the JSON, or -1 where none was given. The strict
            mode uses it for ground truth as panopticapi does; the pixels mode never does.
    """

    ids: np.ndarray
    category_ids: np.ndarray
    iscrowd: np.ndarray
    areas: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.ids)
        if not all(len(a) == n for a in (self.category_ids, self.iscrowd, self.areas)):
            raise PanopticInputError(
                "segments", "ids, category_ids, iscrowd and areas differ in length"
            )

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_info(cls, segments_info: Any, *, source: str) -> Segments:
        """Parse and validate a COCO-panoptic `segments_info` list.

        Args:
            segments_info: dicts with `id` and `category_id`, optional `iscrowd` (0) and `area`.
            source: names the file and image in error messages.

        Raises:
            PanopticInputError: a missing or non-integer field, id 0 or negative, a duplicate
                id, an `iscrowd` other than 0/1, an `area` below 1, a value beyond int64.
        """
        if not isinstance(segments_info, Sequence) or isinstance(segments_info, str | bytes):
            raise PanopticInputError(source, "segments_info is not a list")
        rows = [_parse_segment(item, k, source) for k, item in enumerate(segments_info)]
        table = np.array(rows, dtype=np.int64).reshape(len(rows), 4)
        segments = cls(table[:, 0].copy(), table[:, 1].copy(), table[:, 2] == 1, table[:, 3].copy())
        segments.check_unique(source)
        return segments

    def dense_lookup(self) -> tuple[np.ndarray, np.ndarray]:
        """The kernels' id lookup: sorted ids (int64) and the dense index (1-based position in
        this list) of each."""
        order = np.argsort(self.ids, kind="stable")
        return np.ascontiguousarray(self.ids[order], dtype=np.int64), (order + 1).astype(np.int64)

    def check_unique(self, source: str) -> None:
        """Raise if a segment id is 0, negative or appears twice."""
        if np.any(self.ids <= 0):
            bad = sorted(set(self.ids[self.ids <= 0].tolist()))
            raise PanopticInputError(source, f"segment ids must be positive (0 is void), got {bad}")
        ordered = np.sort(self.ids)
        duplicated = ordered[1:][np.diff(ordered) == 0]
        if duplicated.size:
            raise PanopticInputError(
                source, f"duplicate segment ids {sorted(set(duplicated.tolist()))}"
            )


def _integer(item: Mapping[str, Any], key: str, default: int | None) -> int | None:
    value = item.get(key, default)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) or value is None else None


def _parse_segment(item: Any, k: int, source: str) -> tuple[int, int, int, int]:
    if not isinstance(item, Mapping):
        raise PanopticInputError(source, f"segment #{k} is not an object: {show(item)}")
    sid, cat = _integer(item, "id", None), _integer(item, "category_id", None)
    if sid is None or cat is None:
        raise PanopticInputError(
            source, f"segment #{k} needs integer 'id' and 'category_id', got {show(dict(item))}"
        )
    for key, value in (("id", sid), ("category_id", cat)):
        if not fits_int64(value):
            raise PanopticInputError(
                source,
                f"segment #{k} has {key} {show(item[key])}, beyond the 64-bit integer range",
            )
    crowd = item.get("iscrowd", 0)
    if crowd not in (0, 1):
        raise PanopticInputError(
            source, f"segment {sid} has iscrowd={show(crowd)}, expected 0 or 1"
        )
    area = _integer(item, "area", -1)
    if area is None or (area < 1 and "area" in item) or not fits_int64(area):
        raise PanopticInputError(
            source, f"segment {sid} has area={show(item.get('area'))}: expected a pixel count"
        )
    return sid, cat, int(crowd), area


@dataclass(frozen=True, eq=False)
class PanopticImage:
    """A segment-id map with its segments: the unit that the matching compares.

    Attributes:
        ids: (H, W) int64 or uint32 segment ids, 0 = void; every other value must be in
            `segments`, and every segment must cover at least one pixel.
        segments: the segments of the map.
        image_id: the dataset's id of the image (COCO int or Cityscapes string), if known.
        source: the file (or a description) named in error messages.
    """

    ids: np.ndarray
    segments: Segments
    image_id: ImageId | None = None
    source: str = "<array>"

    def __post_init__(self) -> None:
        ids = self.ids
        if ids.ndim != 2:
            raise PanopticInputError(self.source, f"expected a 2-D id map, got shape {ids.shape}")
        if ids.dtype not in MAP_DTYPES:
            if ids.dtype.kind not in "iub":
                raise PanopticInputError(
                    self.source, f"expected an integer id map, got dtype {ids.dtype}"
                )
            if ids.size and ids.dtype == np.uint64 and int(ids.max()) > np.iinfo(np.int64).max:
                raise PanopticInputError(self.source, "segment ids overflow int64")
            ids = ids.astype(np.int64)
        object.__setattr__(self, "ids", np.ascontiguousarray(ids))

    def dense_index(self) -> np.ndarray:
        """(H, W) int64: 0 on void, k on the pixels of the k-th segment of `segments`.

        Checked as the matching checks an image: an id that no segment lists, or a listed
        segment without pixels, is a PanopticInputError.
        """
        keys, rank = self.segments.dense_lookup()
        ids = self.ids.astype(np.int64)
        pos = np.minimum(np.searchsorted(keys, ids), max(len(keys) - 1, 0))
        found = keys[pos] == ids if len(keys) else np.zeros(ids.shape, dtype=bool)
        stray = ~found & (ids != 0)
        if np.any(stray):
            raise self.unknown_id(int(ids.flat[np.argmax(stray)]))
        index = np.where(found, rank[pos] if len(keys) else 0, 0)
        self.check_areas(np.bincount(index.ravel(), minlength=len(keys) + 1)[1:])
        return index

    def unknown_id(self, value: int) -> PanopticInputError:
        """The error for an id in the map that no segment lists."""
        return PanopticInputError(
            self.source, f"segment id {value} is in the PNG but not in the JSON segments_info"
        )

    def check_areas(self, areas: np.ndarray) -> None:
        """Raise if a listed segment covers no pixel; `areas` are pixels per listed segment."""
        missing = self.segments.ids[areas == 0]
        if missing.size:
            raise PanopticInputError(
                self.source,
                f"segment ids {missing.tolist()} are in the JSON segments_info but not in the PNG",
            )
