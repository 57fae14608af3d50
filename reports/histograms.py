"""Best-overlap IoU histograms per class, with the 0.5 threshold drawn (the paper's Fig. 3).

Read from metrics.json `per_class[<id>]["iou_histogram"]`: the counts of every non-crowd
ground-truth segment of the class by the IoU of its best same-class prediction, in equal bins
over [0, 1] (panoptic_metrics' error analysis). Segments in the bins just under 0.5 count as a
false negative in PQ although they were nearly found: the shaded band marks (0.4, 0.5].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .categories import Category
from .figures import Plot, new_figure, render, run_colour, style_axes
from .runs import RunData, number

THRESHOLD = 0.5
NEAR = 0.4


def histogram(run: RunData, category: Category) -> np.ndarray | None:
    """The run's IoU-histogram counts of `category`, or None when absent or malformed."""
    per_class = (run.metrics or {}).get("per_class")
    entry = per_class.get(str(category.id)) if isinstance(per_class, Mapping) else None
    counts = entry.get("iou_histogram") if isinstance(entry, Mapping) else None
    if not isinstance(counts, list) or not counts:
        return None
    values = [number(c) for c in counts]
    if any(v is None or v < 0 for v in values):
        return None
    return np.asarray(values, dtype=float)


def near_misses(counts: np.ndarray) -> int:
    """Segments whose best IoU lies in (0.4, 0.5]: nearly matched, yet false negatives."""
    edges = np.linspace(0.0, 1.0, len(counts) + 1)
    inside = (edges[:-1] >= NEAR - 1e-9) & (edges[1:] <= THRESHOLD + 1e-9)
    return int(counts[inside].sum())


def runs_with_histograms(runs: Sequence[RunData], categories: Sequence[Category]) -> list[RunData]:
    """The runs that have a histogram for at least one class."""
    return [r for r in runs if any(histogram(r, c) is not None for c in categories)]


def iou_histogram_plot(runs: Sequence[RunData], categories: Sequence[Category]) -> Plot | None:
    """Small multiples, one per class: each run's histogram as a step line, 0.5 drawn."""
    have = runs_with_histograms(runs, categories)
    shown = [c for c in categories if any(histogram(r, c) is not None for r in have)]
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
        for run in have:
            counts = histogram(run, category)
            if counts is None:
                continue
            edges = np.linspace(0.0, 1.0, len(counts) + 1)
            colour = run_colour(list(runs).index(run))
            ax.stairs(counts, edges, color=colour, linewidth=1.5, label=run.name)
            misses.append(str(near_misses(counts)))
        kind = "thing" if category.isthing else "stuff"
        ax.set_title(f"{category.name} ({kind}) · near: {'/'.join(misses)}", fontsize=8.5)
        ax.set_xlim(0, 1)
        ax.tick_params(labelsize=7)
        style_axes(ax)
    for ax in axes.flat[len(shown) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("best IoU", fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=min(len(have), 6), fontsize=9)
    caption = (
        "Per class, the number of ground-truth segments by the IoU of their best same-class "
        "prediction; dashed: PQ's 0.5 threshold; shaded: (0.4, 0.5], the near misses "
        "(counted in each title, per run) that PQ scores as misses."
    )
    return render(fig, "iou_histograms", caption)
