"""Best-overlap IoU histograms per class, with the 0.5 threshold drawn (the paper's Fig. 3).

The counts are panoptic_metrics' error analysis (`analysis.iou_histograms` of each run's
results): every non-crowd ground-truth segment of a class by the IoU of its best same-class
prediction, in equal bins over [0, 1]. Segments in the bins just under 0.5 count as a false
negative in PQ although they were nearly found: the shaded band marks (0.4, 0.5], the
library's `IouHistogram.near_misses`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from panoptic_metrics import Category
from panoptic_metrics.analysis import IouHistogram, iou_histograms

from .figures import Plot, figure_legend, new_figure, render, run_colour, style_axes
from .runs import RunData

THRESHOLD = 0.5  # PQ's matching threshold
NEAR = 0.4  # the lower edge of `IouHistogram.near_misses`


def run_histograms(run: RunData) -> dict[int, IouHistogram]:
    """Category id -> the run's histogram, for the classes with at least one gt segment."""
    if run.results is None:
        return {}
    return {h.category.id: h for h in iou_histograms(run.results) if h.counts.sum() > 0}


def iou_histogram_plot(runs: Sequence[RunData], categories: Sequence[Category]) -> Plot | None:
    """Small multiples, one per class: each run's histogram as a step line, 0.5 drawn."""
    found = {r.name: run_histograms(r) for r in runs}
    shown = [c for c in categories if any(c.id in h for h in found.values())]
    if not shown:
        return None
    cols = min(5, len(shown))
    rows = -(-len(shown) // cols)
    fig = new_figure(2.7 * cols, 2.05 * rows + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
    for ax, category in zip(axes.flat, shown, strict=False):
        ax.axvspan(NEAR, THRESHOLD, color="#fde0dc", zorder=0)
        ax.axvline(THRESHOLD, color="#c62828", linestyle="--", linewidth=1.2)
        misses = []
        for i, run in enumerate(runs):
            hist = found[run.name].get(category.id)
            if hist is None:
                continue
            ax.stairs(hist.counts, hist.edges, color=run_colour(i), linewidth=1.5, label=run.name)
            misses.append(str(hist.near_misses))
        kind = "thing" if category.isthing else "stuff"
        ax.set_title(f"{category.name} ({kind}) · near: {'/'.join(misses)}", fontsize=8.5)
        ax.set_xlim(0, 1)
        ax.set_xticks(np.linspace(0, 1, 6))
        ax.tick_params(labelsize=7)
        style_axes(ax)
    for ax in axes.flat[len(shown) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("best IoU", fontsize=8)
    figure_legend(fig, axes.flat, fontsize=9)
    caption = (
        "Per class, the number of ground-truth segments by the IoU of their best same-class "
        "prediction; dashed: PQ's 0.5 threshold; shaded: (0.4, 0.5], the near misses "
        "(counted in each title, per run) that PQ scores as misses."
    )
    return render(fig, "iou_histograms", caption)
