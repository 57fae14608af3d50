"""Instance masks in COCO form for mask AP: checked arrays in, compressed RLEs out.

Ground-truth instances and detections of one image are kept as pycocotools' compressed RLEs
with dataset category ids, so the mask AP state stays small. pycocotools (the extra
``panoptic-metrics[ap]``) is imported lazily, on first use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from . import kernels
from .checks import show
from .errors import PanopticInputError
from .readers.arrays import as_array, is_integer_array
from .segmentation import ImageId

__all__ = [
    "Detections",
    "ImageId",
    "ImageInstances",
    "Rle",
    "detections_from_arrays",
    "encode_masks",
    "instances_from_arrays",
    "normalize_rle",
    "require_pycocotools",
]

Rle = dict[str, Any]  # {"size": [h, w], "counts": bytes}, pycocotools' compressed RLE
# pycocotools keeps sizes and run lengths in 32-bit unsigned integers.
_MAX_SIDE, _MAX_COUNT = 2**31, 2**32


def require_pycocotools() -> ModuleType:
    """pycocotools' `mask` module, or an ImportError that says how to install it."""
    try:
        from pycocotools import mask
    except ImportError as error:
        raise ImportError(
            "mask AP needs pycocotools, which is not installed: "
            "pip install 'panoptic-metrics[ap]' (or pip install pycocotools)"
        ) from error
    return mask  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ImageInstances:
    """The ground-truth instances of one image."""

    height: int
    width: int
    category_ids: tuple[int, ...]
    rles: tuple[Rle, ...]
    iscrowd: tuple[bool, ...]


@dataclass(frozen=True)
class Detections:
    """The predicted instances of one image; `size` is None when there are none."""

    size: tuple[int, int] | None
    category_ids: tuple[int, ...]
    scores: tuple[float, ...]
    rles: tuple[Rle, ...]


# --------------------------------------------------------------------------------------------
# Masks and RLEs.
# --------------------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def encode_masks(masks: np.ndarray) -> list[Rle]:
    """Compressed RLEs of (K, H, W) bool masks (checked by the caller).

    One mask at a time: pycocotools wants column-major (H, W, K) bytes, and transposing the
    whole stack at once costs more time and K times the memory of one mask.
    """
    if masks.shape[0] == 0:
        return []
    mask_utils = require_pycocotools()
    rles = []
    for mask in masks:
        fortran = np.asfortranarray(mask.view(np.uint8))[:, :, None]  # (H, W, 1)
        rle = mask_utils.encode(fortran)[0]
        rles.append({"size": [int(s) for s in rle["size"]], "counts": rle["counts"]})
    return rles


def normalize_rle(rle: Any, where: str) -> Rle:
    """Check a COCO RLE (compressed string or uncompressed count list) and compress it.

    Raises:
        PanopticInputError: naming `where`, when it is not an RLE of a whole image.
    """
    if not isinstance(rle, Mapping) or "size" not in rle or "counts" not in rle:
        raise PanopticInputError(
            where, f"expected an RLE {{'size': [h, w], 'counts': ...}}, got {show(rle)}"
        )
    size = rle["size"]
    if (
        not isinstance(size, Sequence)
        or len(size) != 2
        or not all(_is_int(s) and 0 <= s < _MAX_SIDE for s in size)
    ):
        raise PanopticInputError(where, f"RLE size must be [height, width], got {show(size)}")
    h, w = int(size[0]), int(size[1])
    counts = rle["counts"]
    if isinstance(counts, str):
        try:
            counts = counts.encode("ascii")
        except UnicodeEncodeError:
            raise PanopticInputError(where, "malformed compressed RLE counts string") from None
    if isinstance(counts, bytes):
        runs, ok = kernels.rle_counts(np.frombuffer(counts, dtype=np.uint8))
        if not ok:
            raise PanopticInputError(where, "malformed compressed RLE counts string")
        total = int(runs.sum())
    elif isinstance(counts, Sequence) and all(_is_int(c) for c in counts):
        if any(c < 0 for c in counts):
            raise PanopticInputError(where, "RLE counts must not be negative")
        if any(c >= _MAX_COUNT for c in counts):
            raise PanopticInputError(where, f"RLE counts must be below {_MAX_COUNT}")
        total = int(sum(int(c) for c in counts))
        counts = require_pycocotools().frPyObjects({"size": [h, w], "counts": list(counts)}, h, w)[
            "counts"
        ]
    else:
        raise PanopticInputError(where, "RLE counts must be a string or a list of integers")
    if total != h * w:
        raise PanopticInputError(
            where, f"RLE runs cover {total} pixels, its size {h}x{w} has {h * w}"
        )
    return {"size": [h, w], "counts": counts}


# --------------------------------------------------------------------------------------------
# Checked arrays in.
# --------------------------------------------------------------------------------------------


def _labels(value: Any, name: str, n_classes: int) -> np.ndarray:
    labels = as_array(value, name)
    if labels.ndim != 1 or not is_integer_array(labels):
        raise PanopticInputError(
            name, f"expected a 1-D integer array, got {labels.dtype} {labels.shape}"
        )
    bad = labels[(labels < 0) | (labels >= n_classes)]
    if bad.size:
        raise PanopticInputError(name, f"label {bad[0]} is out of range 0..{n_classes - 1}")
    return labels.astype(np.int64)


def _masks(value: Any, name: str, n: int) -> np.ndarray:
    masks = as_array(value, name)
    if masks.ndim != 3 or masks.shape[0] != n:
        raise PanopticInputError(name, f"expected shape ({n}, H, W), got {masks.shape}")
    if masks.dtype != np.bool_:
        if not is_integer_array(masks):
            raise PanopticInputError(
                name, f"expected binary masks (bool or 0/1), got {masks.dtype}"
            )
        if masks.size and (masks.min() < 0 or masks.max() > 1):
            raise PanopticInputError(name, "integer masks must hold only 0 and 1")
    return masks.astype(bool, copy=False)


def common_size(rles: Sequence[Rle], name: str) -> tuple[int, int] | None:
    """The (height, width) shared by all RLEs of an image, None for no RLE."""
    sizes = {(int(r["size"][0]), int(r["size"][1])) for r in rles}
    if len(sizes) > 1:
        raise PanopticInputError(
            name, f"the masks of one image have different sizes {sorted(sizes)}"
        )
    return sizes.pop() if sizes else None


def instances_from_arrays(
    masks: Any, labels: Any, iscrowd: Any, category_ids: Sequence[int]
) -> ImageInstances:
    """Ground-truth instances from (N, H, W) masks, (N,) labels and optional (N,) crowd flags."""
    label_array = _labels(labels, "target labels", len(category_ids))
    mask_array = _masks(masks, "target masks", len(label_array))
    crowd = np.zeros(len(label_array), dtype=bool)
    if iscrowd is not None:
        crowd = as_array(iscrowd, "target iscrowd")
        if crowd.shape != label_array.shape:
            raise PanopticInputError(
                "target iscrowd", f"expected shape {label_array.shape}, got {crowd.shape}"
            )
    return ImageInstances(
        height=int(mask_array.shape[1]),
        width=int(mask_array.shape[2]),
        category_ids=tuple(category_ids[k] for k in label_array.tolist()),
        rles=tuple(encode_masks(mask_array)),
        iscrowd=tuple(bool(c) for c in crowd.tolist()),
    )


def detections_from_arrays(
    prediction: Mapping[str, Any], category_ids: Sequence[int]
) -> Detections:
    """Detections from ``labels`` (K,), ``scores`` (K,), ``masks`` (K, H, W) or ``rles`` (K
    COCO RLEs), and optional ``boxes`` (K, 4), checked but not used by segm AP."""
    labels = _labels(prediction.get("labels"), "prediction labels", len(category_ids))
    scores = as_array(prediction.get("scores"), "prediction scores")
    if scores.shape != labels.shape or not np.issubdtype(scores.dtype, np.number):
        raise PanopticInputError(
            "prediction scores", f"expected shape {labels.shape}, got {scores.shape}"
        )
    if not np.all(np.isfinite(scores)):
        raise PanopticInputError("prediction scores", "every score must be finite")
    if prediction.get("boxes") is not None:
        boxes = as_array(prediction["boxes"], "prediction boxes")
        if boxes.shape != (len(labels), 4):
            raise PanopticInputError(
                "prediction boxes", f"expected ({len(labels)}, 4), got {boxes.shape}"
            )
    if (prediction.get("masks") is None) == (prediction.get("rles") is None):
        raise PanopticInputError("prediction", "needs exactly one of masks and rles")
    if prediction.get("masks") is not None:
        rles = encode_masks(_masks(prediction["masks"], "prediction masks", len(labels)))
    else:
        given = prediction["rles"]
        if not isinstance(given, Sequence) or len(given) != len(labels):
            raise PanopticInputError("prediction rles", f"expected a list of {len(labels)} RLEs")
        rles = [normalize_rle(r, f"prediction rles[{k}]") for k, r in enumerate(given)]
    return Detections(
        size=common_size(rles, "prediction"),
        category_ids=tuple(category_ids[k] for k in labels.tolist()),
        scores=tuple(float(s) for s in scores.tolist()),
        rles=tuple(rles),
    )
