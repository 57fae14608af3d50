"""Training targets of one image (docs/contracts.md §2) from its segment index map.

`semantic` (H, W) int64: contiguous class index, 255 on void; `boxes` (N, 4) float32 xyxy in
pixels (x2, y2 exclusive: a one-pixel segment at (x, y) is [x, y, x + 1, y + 1], COCO's
convention); `labels` (N,) int64 thing index (class index - n_stuff); `masks` (N, H, W) bool;
`iscrowd` (N,) bool. Every thing segment, crowd included, is an instance; stuff segments and
crowd regions both carry their class in `semantic`. Segments with no pixel left (after
resizing) are dropped.
"""

from __future__ import annotations

import numpy as np
import torch
from panoptic_metrics import Segments

from .categories import IGNORE_INDEX, ClassMapping

Target = dict[str, torch.Tensor]


def segment_classes(segments: Segments, classes: ClassMapping) -> np.ndarray:
    """(S + 1,) int64: entry 0 (void) is IGNORE_INDEX, entry k the class of segment k."""
    indices = classes.class_indices(segments.category_ids, source="segments")
    return np.concatenate(([IGNORE_INDEX], indices)).astype(np.int64)


def boxes_of(masks: np.ndarray) -> np.ndarray:
    """(N, 4) float32 xyxy boxes of non-empty (N, H, W) masks, exclusive right/bottom edges."""
    boxes = np.zeros((len(masks), 4), dtype=np.float32)
    for k, mask in enumerate(masks):
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        boxes[k] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    return boxes


def make_target(index: np.ndarray, segments: Segments, classes: ClassMapping) -> Target:
    """The target dict of an image from its (H, W) segment index map (0 = void)."""
    seg_class = segment_classes(segments, classes)
    semantic = seg_class[index]  # (H, W)
    area = np.bincount(index.ravel(), minlength=len(segments) + 1)
    instances = [
        k
        for k in range(1, len(segments) + 1)
        if classes.is_thing_index(int(seg_class[k])) and area[k]
    ]
    height, width = index.shape
    masks = np.zeros((len(instances), height, width), dtype=bool)
    for row, k in enumerate(instances):
        np.equal(index, k, out=masks[row])
    return {
        "semantic": torch.from_numpy(semantic),
        "boxes": torch.from_numpy(boxes_of(masks)).reshape(-1, 4),
        "labels": torch.as_tensor(
            [int(seg_class[k]) - classes.n_stuff for k in instances], dtype=torch.int64
        ),
        "masks": torch.from_numpy(masks),
        "iscrowd": torch.as_tensor(
            [bool(segments.iscrowd[k - 1]) for k in instances], dtype=torch.bool
        ),
    }
