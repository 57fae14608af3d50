"""In-memory inputs: segment-id maps with a segments list, category + instance maps, the
`label_divisor` encoding, and anything exposing `__array__` (torch tensors, on any device)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..categories import CategorySet
from ..errors import PanopticInputError
from ..segmentation import ImageId, PanopticImage, Segments

INT64_MAX = np.iinfo(np.int64).max


def as_array(value: Any, source: str) -> np.ndarray:
    """A numpy array from an ndarray, a list or tuple, or any object with `__array__`.

    Torch tensors (on any device) are detached and copied to the host first; torch itself is
    never imported here. An empty list becomes an empty int64 array (not numpy's float64).

    Raises:
        PanopticInputError: `value` is not array-like, or a ragged nested list.
    """
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, maybe on a GPU
        value = value.detach().cpu()
    if isinstance(value, list | tuple) and len(value) == 0:
        return np.zeros(0, dtype=np.int64)
    if not isinstance(value, np.ndarray | list | tuple) and not hasattr(value, "__array__"):
        raise PanopticInputError(source, f"expected an array, got {type(value).__name__}")
    try:
        return np.asarray(value)
    except ValueError as error:  # ragged lists
        raise PanopticInputError(source, f"not a rectangular array ({error})") from None


def is_integer_array(array: np.ndarray) -> bool:
    """True for signed or unsigned integer dtypes (not bool)."""
    return array.dtype.kind in "iu"


def as_id_map(x: Any, *, source: str = "<array>") -> np.ndarray:
    """A 2-D integer (or bool) numpy array from anything `as_array` accepts."""
    array = as_array(x, source)
    if array.ndim != 2:
        raise PanopticInputError(source, f"expected a 2-D (H, W) map, got shape {array.shape}")
    if array.dtype.kind not in "iub":
        raise PanopticInputError(source, f"expected integer ids, got dtype {array.dtype}")
    return array


def from_segments(
    ids: Any,
    segments: Sequence[Mapping[str, Any]],
    *,
    image_id: ImageId | None = None,
    source: str = "<array>",
) -> PanopticImage:
    """A panoptic image from a segment-id map (0 = void) and its COCO `segments_info` list."""
    id_map = as_id_map(ids, source=source)
    return PanopticImage(id_map, Segments.from_info(segments, source=source), image_id, source)


def from_category_instance(
    category_map: Any,
    instance_map: Any,
    categories: CategorySet,
    *,
    void_label: int = 255,
    image_id: ImageId | None = None,
    source: str = "<array>",
) -> PanopticImage:
    """A panoptic image from a per-pixel category map and instance map.

    Stuff pixels of a category form one segment whatever their instance ids. Thing pixels form
    one segment per (category, instance id); instance id 0 on a thing class marks a crowd
    region (the Cityscapes convention: a thing without an instance is a crowd group).
    Pixels labelled `void_label` are void; any other category outside `categories` is an error.
    """
    cat = as_id_map(category_map, source=source).astype(np.int64)
    inst = as_id_map(instance_map, source=source).astype(np.int64)
    if cat.shape != inst.shape:
        raise PanopticInputError(
            source, f"category map {cat.shape} and instance map {inst.shape} differ in shape"
        )
    if inst.size and inst.min() < 0:
        raise PanopticInputError(source, "instance ids must be >= 0")
    void = cat == void_label
    cls = categories.index_of(np.where(void, categories.ids[0], cat), source=source)
    isthing = categories.isthing[cls] & ~void
    inst = np.where(isthing, inst, 0)
    n_inst = int(inst.max()) + 1 if inst.size else 1
    key = np.where(void, -1, cls * n_inst + inst)
    keys, inverse = np.unique(key, return_inverse=True)
    valid = keys >= 0
    seg_class, seg_inst = keys[valid] // n_inst, keys[valid] % n_inst
    seg_ids = np.zeros(len(keys), dtype=np.int64)
    seg_ids[valid] = np.arange(1, int(valid.sum()) + 1)
    segments = Segments(
        ids=seg_ids[valid],
        category_ids=categories.ids[seg_class],
        iscrowd=categories.isthing[seg_class] & (seg_inst == 0),
        areas=np.full(int(valid.sum()), -1, dtype=np.int64),
    )
    return PanopticImage(seg_ids[inverse.reshape(cat.shape)], segments, image_id, source)


def encode_label_divisor(category_map: Any, instance_map: Any, label_divisor: int) -> np.ndarray:
    """`category * label_divisor + instance` with checks: 0 <= instance < label_divisor, and no
    int64 overflow."""
    if label_divisor < 1:
        raise ValueError(f"label_divisor must be >= 1, got {label_divisor}")
    cat = as_id_map(category_map, source="category map").astype(np.int64)
    inst = as_id_map(instance_map, source="instance map").astype(np.int64)
    if cat.shape != inst.shape:
        raise PanopticInputError(
            "instance map", f"has shape {inst.shape}, the category map {cat.shape}"
        )
    if cat.size and cat.min() < 0:
        raise PanopticInputError("category map", f"category {cat.min()} is negative")
    if inst.size and inst.min() < 0:
        raise PanopticInputError("instance map", f"instance id {inst.min()} is negative")
    if inst.size and inst.max() >= label_divisor:
        raise PanopticInputError(
            "instance map",
            f"instance id {inst.max()} does not fit under label_divisor {label_divisor}",
        )
    if cat.size and cat.max() > (INT64_MAX - label_divisor + 1) // label_divisor:
        raise PanopticInputError(
            "category map", f"category {cat.max()} * label_divisor {label_divisor} overflows int64"
        )
    return cat * label_divisor + inst


def from_label_divisor(
    panoptic_map: Any,
    categories: CategorySet,
    *,
    label_divisor: int = 1000,
    void_label: int = 255,
    image_id: ImageId | None = None,
    source: str = "<array>",
) -> PanopticImage:
    """A panoptic image from the `category * label_divisor + instance` encoding (detectron2,
    Panoptic-DeepLab); see `from_category_instance` for stuff, crowd and void."""
    if label_divisor < 1:
        raise ValueError(f"label_divisor must be >= 1, got {label_divisor}")
    values = as_id_map(panoptic_map, source=source)
    if values.dtype == np.uint64 and values.size and int(values.max()) > INT64_MAX:
        raise PanopticInputError(source, "values overflow int64")
    values = values.astype(np.int64)
    if values.size and values.min() < 0:
        raise PanopticInputError(source, f"negative value {values.min()} in a label_divisor map")
    return from_category_instance(
        values // label_divisor,
        values % label_divisor,
        categories,
        void_label=void_label,
        image_id=image_id,
        source=source,
    )
