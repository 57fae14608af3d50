"""The streaming PQ/PQ† accumulator: `update` per image, `compute` pure, `merge` by addition."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .boundary import BOUNDARY_COLUMNS, DEFAULT_DILATION_RATIO, check_dilation_ratio
from .categories import CategorySet
from .errors import PanopticInputError
from .image_states import ImageStates
from .kernels import CAUSES
from .matching import SUM_COLUMNS, ImageStats, Mode, check_mode, match_image
from .results import PanopticResults, build_results
from .segmentation import PanopticImage
from .thresholds import IOU_THRESHOLDS, LADDER_COLUMNS, check_thresholds, threshold_sums


class PanopticAccumulator:
    """Accumulates per-class sums over images; shards merge by addition.

    The state is the (C, 6) per-class sums (tp, fp, fn, iou_sum, PQ† n and IoU sum), the
    (C, n_bins) best-overlap IoU histogram, the (C, T, 4) sums of PQ at each IoU threshold
    (tp, fp, fn, iou_sum), with Boundary PQ its (C, 4) sums (tp, fp, fn, iou_sum), the (C, K)
    counts of each FN and FP cause (`decomposition.py`) and the per-image states (for the
    per-image table and the bootstrap) as flat arrays (`image_states.ImageStates`).
    `compute()` does not change it.

    Example:
        >>> import numpy as np
        >>> from panoptic_metrics import CategorySet, Category, PanopticAccumulator, from_segments
        >>> cats = CategorySet((Category(1, "road", False), Category(2, "car", True)))
        >>> ids = np.array([[1, 1, 2, 2]])
        >>> segs = [{"id": 1, "category_id": 1}, {"id": 2, "category_id": 2}]
        >>> acc = PanopticAccumulator(cats)
        >>> _ = acc.update(from_segments(ids, segs), from_segments(ids, segs))
        >>> acc.compute().pq
        1.0
    """

    def __init__(
        self,
        categories: CategorySet,
        *,
        mode: Mode = "strict",
        n_bins: int = 20,
        iou_thresholds: Iterable[float] = IOU_THRESHOLDS,
        boundary: bool = False,
        dilation_ratio: float = DEFAULT_DILATION_RATIO,
    ):
        """Args:
        categories: the evaluated classes.
        mode: "strict" (panopticapi, the default) or "pixels".
        n_bins: bins of the best-overlap IoU histogram (even, so that 0.5 is an edge).
        iou_thresholds: the IoU thresholds of `pq_at`, each in [0.5, 1) (default 0.5, 0.55,
            ..., 0.95); computed from the one matching at 0.5, not by matching again.
        boundary: also compute Boundary PQ (`results.boundary`, docs/metrics.md).
        dilation_ratio: its band width as a fraction of the image diagonal (> 0; default
            0.02, the Boundary IoU paper's); used only with `boundary`.
        """
        if n_bins < 2 or n_bins % 2:
            raise ValueError(f"n_bins must be an even number >= 2, got {n_bins}")
        self.categories = categories
        self.mode: Mode = check_mode(mode)
        self.n_bins = n_bins
        self.iou_thresholds = check_thresholds(iou_thresholds)
        self.dilation_ratio = check_dilation_ratio(dilation_ratio) if boundary else None
        self.reset()

    def reset(self) -> None:
        """Forget every image."""
        self.class_sums = np.zeros((len(self.categories), len(SUM_COLUMNS)), dtype=np.float64)
        self.histogram = np.zeros((len(self.categories), self.n_bins), dtype=np.int64)
        shape = (len(self.categories), len(self.iou_thresholds), len(LADDER_COLUMNS))
        self.ladder = np.zeros(shape, dtype=np.float64)
        columns = len(BOUNDARY_COLUMNS)  # zeros without Boundary PQ
        self.boundary_sums = np.zeros((len(self.categories), columns), dtype=np.float64)
        self.error_counts = np.zeros((len(self.categories), len(CAUSES)), dtype=np.int64)
        self.images = ImageStates()  # flat arrays, not an object per image

    @property
    def n_images(self) -> int:
        return len(self.images)

    def update(self, gt: PanopticImage, pred: PanopticImage) -> ImageStats:
        """Match one image pair and add it; returns the image's own state."""
        stats = match_image(
            gt,
            pred,
            self.categories,
            mode=self.mode,
            n_bins=self.n_bins,
            dilation_ratio=self.dilation_ratio,
        )
        self.add(stats)
        return stats

    def add(self, stats: ImageStats) -> None:
        """Add the state of one image (e.g. computed by a worker process)."""
        if stats.classes.size and stats.classes.max() >= len(self.categories):
            raise PanopticInputError(str(stats.image_id), "image state has unknown classes")
        if self.dilation_ratio is not None and stats.boundary is None:
            raise PanopticInputError(
                str(stats.image_id), "image state has no Boundary PQ sums (matched without it)"
            )
        self.class_sums[stats.classes] += stats.sums
        np.add.at(self.histogram, (stats.hist_class, stats.hist_bin), 1)
        self.ladder[stats.classes] += threshold_sums(stats, self.iou_thresholds)
        if self.dilation_ratio is not None and stats.boundary is not None:
            self.boundary_sums[stats.classes] += stats.boundary
        if stats.errors.shape[0] == len(stats.classes):
            self.error_counts[stats.classes] += stats.errors.astype(np.int64)
        self.images.append(stats)

    def merge(self, other: PanopticAccumulator) -> PanopticAccumulator:
        """Add another accumulator's state (same categories, mode, bins, thresholds, Boundary
        PQ dilation ratio)."""
        same = ("categories", "mode", "n_bins", "iou_thresholds", "dilation_ratio")
        if any(getattr(other, k) != getattr(self, k) for k in same):
            raise ValueError(
                "can only merge accumulators with the same categories, mode, bins, thresholds "
                "and Boundary PQ dilation ratio"
            )
        self.class_sums += other.class_sums
        self.histogram += other.histogram
        self.ladder += other.ladder
        self.boundary_sums += other.boundary_sums
        self.error_counts += other.error_counts
        self.images.extend(other.images)
        return self

    def compute(self) -> PanopticResults:
        """The results of every image added so far (NaN with a warning where undefined)."""
        return build_results(
            self.categories,
            self.mode,
            self.class_sums,
            self.histogram,
            self.images,
            ladder=(self.iou_thresholds, self.ladder),
            boundary=None
            if self.dilation_ratio is None
            else (self.dilation_ratio, self.boundary_sums),
            errors=self.error_counts,
        )
