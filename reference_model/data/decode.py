"""Read one image and its panoptic ground truth from disk into numpy arrays.

The ground truth is read by panoptic_metrics (the evaluation's readers, checks and messages)
and becomes a dense *segment index map*: 0 is void, `k >= 1` is the k-th segment of its list.
Both encodings (COCO-panoptic RGB ids with a JSON segment list; Cityscapes-style instance ids)
end in this one form, which resizes with nearest neighbours and turns into targets in one
place (`targets.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from panoptic_metrics import PanopticImage, Segments
from PIL import Image

from .records import DatasetError, PanopticRecord, dataset_errors


@dataclass(frozen=True)
class PanopticGT:
    """Ground truth of one image.

    Attributes:
        index: (H, W) int32, 0 = void, k = the k-th segment of `segments`.
        segments: the image's segments (evaluated categories only).
    """

    index: np.ndarray
    segments: Segments

    @classmethod
    def of(cls, image: PanopticImage) -> PanopticGT:
        """The index map of a panoptic image, checked as the evaluation checks it."""
        return cls(image.dense_index().astype(np.int32), image.segments)


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


def load_panoptic(record: PanopticRecord) -> PanopticGT:
    """The record's ground truth as a segment index map (see `PanopticGT`)."""
    with dataset_errors():
        return PanopticGT.of(record.ground_truth.load())


def load_pair(record: PanopticRecord) -> tuple[np.ndarray, PanopticGT]:
    """Image and ground truth, checked to have the same size."""
    image = load_image(record.image_path)
    gt = load_panoptic(record)
    if image.shape[:2] != gt.index.shape:
        raise DatasetError(
            f"{record.ground_truth.path}: ground truth is {gt.index.shape[1]}x{gt.index.shape[0]} "
            f"but its image {record.image_path} is {image.shape[1]}x{image.shape[0]}"
        )
    return image, gt
