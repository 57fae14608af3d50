"""The ground truth of an evaluated split, as panoptic_metrics compares it.

Every dataset's records hold panoptic_metrics' own readers of their ground truth (the
COCO-panoptic JSON and PNGs, or IDD's instance-id PNGs), read exactly as
`panoptic-metrics evaluate` reads them. The semantic ground truth of mIoU comes from the same
panoptic map: every pixel of a segment (crowd included) has its class, void pixels the ignore
label.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from panoptic_metrics import PanopticImage
from panoptic_metrics.segmentation import ImageId

from reference_model.data import DatasetError, DatasetSource
from reference_model.data.targets import segment_classes


class GroundTruth:
    """Per image id, the panoptic ground truth of `source` (decoded on demand).

    Attributes:
        categories: the evaluated classes; their contiguous order (stuff, then things) is
            the model's class order (docs/contracts.md §1).
    """

    def __init__(self, source: DatasetSource) -> None:
        self.classes = source.classes
        self.categories = source.classes.categories
        self._load: dict[ImageId, Callable[[], PanopticImage]] = {
            record.image_id: record.ground_truth.load for record in source.records
        }

    @property
    def image_ids(self) -> list[ImageId]:
        return list(self._load)

    def image(self, image_id: ImageId) -> PanopticImage:
        """The decoded panoptic ground truth of one image."""
        if image_id not in self._load:
            raise DatasetError(f"image {image_id!r} has no ground truth")
        return self._load[image_id]()

    def semantic(self, image: PanopticImage) -> np.ndarray:
        """(H, W) int64 contiguous class index of each pixel, IGNORE_INDEX on void."""
        semantic: np.ndarray = segment_classes(image.segments, self.classes)[image.dense_index()]
        return semantic
