"""Read one image and its panoptic ground truth from disk into numpy arrays.

The ground truth becomes a dense *segment index map*: 0 is void, `k >= 1` is the k-th entry
of the returned segment tuple. Both encodings (COCO-panoptic RGB ids with a JSON segment list;
Cityscapes-style instance ids) end in this one form, which resizes with nearest neighbours and
turns into targets in one place (`targets.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .categories import ClassMapping
from .records import DatasetError, PanopticRecord, Segment

INSTANCE_DIVISOR = 1000  # Cityscapes/IDD instance ids: class * 1000 + k


@dataclass(frozen=True)
class PanopticGT:
    """Ground truth of one image.

    Attributes:
        index: (H, W) int32, 0 = void, k = segments[k - 1].
        segments: the image's segments (evaluated categories only).
    """

    index: np.ndarray
    segments: tuple[Segment, ...]


def _open(path: Path, what: str) -> Image.Image:
    if not path.is_file():
        raise DatasetError(f"{path}: {what} is missing")
    try:
        image = Image.open(path)
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise DatasetError(f"{path}: cannot read {what} ({err})") from err
    return image


def load_image(path: Path) -> np.ndarray:
    """The RGB image as (H, W, 3) uint8 (grey or palette images are converted to RGB)."""
    image = _open(path, "the image")
    if image.mode not in ("RGB", "L", "P", "RGBA", "CMYK", "YCbCr"):
        raise DatasetError(f"{path}: the image has mode {image.mode}, expected an RGB image")
    return np.asarray(image.convert("RGB"))


def _rgb_ids(path: Path) -> np.ndarray:
    image = _open(path, "the panoptic PNG")
    if image.mode != "RGB":
        raise DatasetError(
            f"{path}: a COCO-panoptic PNG must be RGB (id = R + 256 G + 256^2 B), got {image.mode}"
        )
    rgb = np.asarray(image).astype(np.int32)
    return rgb[..., 0] | (rgb[..., 1] << 8) | (rgb[..., 2] << 16)


def _index_from_rgb(record: PanopticRecord, classes: ClassMapping) -> PanopticGT:
    ids = _rgb_ids(record.panoptic_path)
    known = set(classes.category_ids)
    segments = tuple(s for s in record.segments if s.category_id in known)
    if not segments:
        if np.any(ids):
            raise DatasetError(
                f"{record.panoptic_path}: segment ids in the PNG are missing from the JSON "
                f"(image {record.image_id!r} lists no segments)"
            )
        return PanopticGT(np.zeros(ids.shape, np.int32), ())
    order = np.argsort([s.id for s in segments])
    sorted_ids = np.asarray([segments[k].id for k in order], dtype=np.int32)
    pos = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    found = sorted_ids[pos] == ids
    listed = {s.id for s in record.segments}
    stray = ~found & (ids != 0)
    if np.any(stray):
        unlisted = sorted(set(np.unique(ids[stray]).tolist()) - listed)
        if unlisted:
            raise DatasetError(
                f"{record.panoptic_path}: segment ids {unlisted[:5]} are in the PNG but not in "
                f"the JSON annotation of image {record.image_id!r}"
            )
    # Segments of categories that are not evaluated (and id 0) become void.
    rank_to_segment = (order + 1).astype(np.int32)
    index = np.where(found, rank_to_segment[pos], 0).astype(np.int32)
    return PanopticGT(index, segments)


def _index_from_instance_ids(record: PanopticRecord, classes: ClassMapping) -> PanopticGT:
    image = _open(record.panoptic_path, "the instance-id PNG")
    if image.mode not in ("I", "I;16", "I;16B", "L"):
        raise DatasetError(
            f"{record.panoptic_path}: an instance-id PNG must be 8/16/32-bit grey, got {image.mode}"
        )
    raw = np.asarray(image).astype(np.int64)
    if raw.size and (raw.min() < 0 or raw.max() >= 2**24):
        raise DatasetError(f"{record.panoptic_path}: instance ids outside 0..2^24-1")
    return index_from_instance_ids(raw, classes)


def index_from_instance_ids(raw: np.ndarray, classes: ClassMapping) -> PanopticGT:
    """Ground truth from a Cityscapes-style (H, W) instance-id map (ids in 0..2^24-1): thing
    instances are `category * 1000 + k`, stuff and crowd groups the bare category id; ids of
    categories that are not evaluated are void."""
    raw = np.asarray(raw, dtype=np.int64)
    values = np.flatnonzero(np.bincount(raw.ravel())) if raw.size else np.zeros(0, np.int64)
    lut = np.zeros(int(values.max()) + 1 if len(values) else 1, dtype=np.int32)
    things = {c.id for c in classes.categories if c.isthing}
    known = set(classes.category_ids)
    segments = []
    for value in values.tolist():
        category = value // INSTANCE_DIVISOR if value >= INSTANCE_DIVISOR else value
        if category not in known:
            continue  # void labels and classes that are not evaluated
        segments.append(
            Segment(value + 1, category, category in things and value < INSTANCE_DIVISOR)
        )
        lut[value] = len(segments)
    return PanopticGT(lut[raw], tuple(segments))


def load_panoptic(record: PanopticRecord, classes: ClassMapping) -> PanopticGT:
    """The record's ground truth as a segment index map (see `PanopticGT`)."""
    if record.encoding == "rgb":
        return _index_from_rgb(record, classes)
    return _index_from_instance_ids(record, classes)


def load_pair(record: PanopticRecord, classes: ClassMapping) -> tuple[np.ndarray, PanopticGT]:
    """Image and ground truth, checked to have the same size."""
    image = load_image(record.image_path)
    gt = load_panoptic(record, classes)
    if image.shape[:2] != gt.index.shape:
        raise DatasetError(
            f"{record.panoptic_path}: ground truth is {gt.index.shape[1]}x{gt.index.shape[0]} "
            f"but its image {record.image_path} is {image.shape[1]}x{image.shape[0]}"
        )
    return image, gt
