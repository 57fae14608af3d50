"""Error-analysis data for the report: best-overlap IoU histograms and the PQ − PQ† gap.

The histogram shows, per class, how close every unmatched ground-truth segment came to the
0.5 threshold (the paper's Fig. 3 argument: stuff segments just under 0.5 count as nothing in
PQ but almost fully in PQ†); the gap shows which classes PQ† treats differently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .categories import Category
from .results import PanopticResults


@dataclass(frozen=True)
class IouHistogram:
    """Best-overlap IoU counts of every non-crowd gt segment of one class.

    `counts[k]` holds IoUs in (edges[k], edges[k + 1]] (bin 0 also holds IoU 0: no same-class
    prediction touches the segment). With an even number of bins the upper half is exactly
    IoU > 0.5, i.e. the segments PQ's matching can accept.
    """

    category: Category
    edges: np.ndarray  # (n_bins + 1,) float64 from 0 to 1
    counts: np.ndarray  # (n_bins,) int64

    @property
    def near_misses(self) -> int:
        """Segments whose best IoU lies in (0.4, 0.5]: almost matched, yet FN under PQ."""
        inside = (self.edges[:-1] >= 0.4 - 1e-9) & (self.edges[1:] <= 0.5 + 1e-9)
        return int(self.counts[inside].sum())


@dataclass(frozen=True)
class DaggerGap:
    """PQ_c − PQ†_c of one class (0 for things, NaN where either is undefined)."""

    category: Category
    pq: float
    pq_dagger: float
    gap: float


def iou_histograms(results: PanopticResults) -> tuple[IouHistogram, ...]:
    """The best-overlap IoU histogram of every class."""
    out = []
    for c in results.per_class:
        counts = np.array(c.iou_histogram, dtype=np.int64)
        out.append(IouHistogram(c.category, np.linspace(0.0, 1.0, len(counts) + 1), counts))
    return tuple(out)


def dagger_gaps(results: PanopticResults) -> tuple[DaggerGap, ...]:
    """PQ_c − PQ†_c per class, largest absolute gap first (undefined ones last)."""
    gaps = [DaggerGap(c.category, c.pq, c.pq_dagger, c.pq - c.pq_dagger) for c in results.per_class]
    return tuple(sorted(gaps, key=lambda g: (np.isnan(g.gap), -abs(np.nan_to_num(g.gap)))))
