"""The ground truth of an evaluated split, as panoptic_metrics compares it.

Datasets that ship COCO-panoptic ground truth (Cityscapes after cityscapesscripts, the
synthetic data, Vistas, COCO) are read by panoptic_metrics' own reader, exactly as
`panoptic-metrics evaluate` reads them; IDD's instance-id PNGs go through the data pipeline's
decoder. The semantic ground truth of mIoU comes from the same panoptic map: every pixel of a
segment (crowd included) has its class, void pixels the ignore label.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
from panoptic_metrics import CategorySet, PanopticImage, Segments, load_coco_panoptic
from panoptic_metrics.segmentation import ImageId

from reference_model.data import IGNORE_INDEX, DatasetError, DatasetSource, PanopticRecord
from reference_model.data.decode import load_panoptic


class GroundTruth:
    """Per image id, the panoptic ground truth of `source` (decoded on demand).

    Attributes:
        categories: the evaluated classes; their contiguous order (stuff, then things) is
            the model's class order (docs/contracts.md §1), checked against `source.classes`.
    """

    def __init__(self, source: DatasetSource) -> None:
        self._load: dict[ImageId, Callable[[], PanopticImage]] = {}
        if source.gt_json is not None and source.gt_folder is not None:
            coco = load_coco_panoptic(source.gt_json, source.gt_folder)
            self.categories = coco.categories or CategorySet.from_coco(source.classes.to_coco())
            self._load = {i: image.load for i, image in coco.images.items()}
        else:
            self.categories = CategorySet.from_coco(source.classes.to_coco())
            for record in source.records:
                self._load[record.image_id] = partial(_decoded, record, source)
        if self.categories.contiguous_ids != source.classes.category_ids:
            raise DatasetError(
                f"{source.gt_json or source.name}: the ground truth's categories "
                f"{list(self.categories.contiguous_ids)} differ from the dataset's classes "
                f"{list(source.classes.category_ids)}"
            )
        self._index = {cid: k for k, cid in enumerate(self.categories.contiguous_ids)}

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
        segments = image.segments
        if len(segments) == 0:
            return np.full(image.ids.shape, IGNORE_INDEX, dtype=np.int64)
        order = np.argsort(segments.ids)
        ids = segments.ids[order]
        classes = np.array([self._index[int(c)] for c in segments.category_ids[order]])
        pos = np.minimum(np.searchsorted(ids, image.ids), len(ids) - 1)
        return np.where(ids[pos] == image.ids, classes[pos], IGNORE_INDEX).astype(np.int64)


def _decoded(record: PanopticRecord, source: DatasetSource) -> PanopticImage:
    """A record of an instance-id dataset (IDD) as a PanopticImage: segment k is index k."""
    gt = load_panoptic(record, source.classes)
    n = len(gt.segments)
    segments = Segments(
        ids=np.arange(1, n + 1, dtype=np.int64),
        category_ids=np.array([s.category_id for s in gt.segments], dtype=np.int64),
        iscrowd=np.array([s.iscrowd for s in gt.segments], dtype=bool),
        areas=np.full(n, -1, dtype=np.int64),
    )
    return PanopticImage(
        gt.index.astype(np.int64), segments, record.image_id, str(record.panoptic_path)
    )
