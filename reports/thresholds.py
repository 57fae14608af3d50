"""PQ over IoU thresholds (docs/metrics.md, "PQ over IoU thresholds"): each run's PQ with
matches at IoU > t, t = 0.5, 0.55, ..., 0.95, overall, for things and for stuff.

The numbers are each run's `PanopticResults.pq_at` (metrics.json `pq_at`); a run whose
metrics.json was written without it (an older panoptic_metrics) gets a notice instead of a
line. How fast a curve falls says how much of the run's PQ rests on loose matches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .figures import Plot, figure_legend, new_figure, render, run_colour, style_axes
from .runs import RunData, lacking

# The panels of the plot: title -> the `ThresholdResult` attribute averaged over those classes.
PANELS = {"all classes": "overall", "things": "things", "stuff": "stuff"}


def threshold_series(run: RunData, part: str = "overall") -> tuple[np.ndarray, np.ndarray]:
    """(thresholds, PQ as a fraction) of the run's `pq_at` for `part` ("overall", "things",
    "stuff"); empty arrays when the run has none. Undefined PQ is NaN (a gap in the line)."""
    if run.results is None or not run.results.pq_at:
        return np.zeros(0), np.zeros(0)
    ladder = run.results.pq_at
    thresholds = np.array([t.threshold for t in ladder], dtype=float)
    return thresholds, np.array([getattr(t, part).pq for t in ladder], dtype=float)


def threshold_notices(runs: Sequence[RunData]) -> list[str]:
    """A notice per run with metrics but no `pq_at`; one more when no run has any."""
    what = "PQ over IoU thresholds (`pq_at`; written by an older panoptic_metrics)"
    return lacking(runs, lambda r: bool(r.pq_at), what, "PQ-over-thresholds plot")


def threshold_plot(runs: Sequence[RunData]) -> Plot | None:
    """PQ (%) against the IoU threshold, one panel each for all classes, things and stuff,
    one line per run with `pq_at`; None when no run has it."""
    drawn = [(i, run) for i, run in enumerate(runs) if len(threshold_series(run)[0])]
    if not drawn:
        return None
    fig = new_figure(3.2 * len(PANELS), 3.3)
    axes = fig.subplots(1, len(PANELS), sharey=True)
    for ax, (title, part) in zip(axes, PANELS.items(), strict=True):
        for i, run in drawn:
            thresholds, pq = threshold_series(run, part)
            colour = run_colour(i)
            ax.plot(thresholds, 100 * pq, marker="o", ms=3.5, color=colour, label=run.name)
        ax.set_title(title, fontsize=9.5)
        ax.set_xlabel("IoU threshold t", fontsize=9)
        ax.tick_params(labelsize=8)
        style_axes(ax)
    axes[0].set_ylabel("PQ at t (%)", fontsize=9)
    axes[0].set_ylim(bottom=0)
    figure_legend(fig, axes, fontsize=9)
    caption = (
        "PQ with matches at IoU > t instead of 0.5 (metrics.json `pq_at`), for all classes, "
        "things and stuff: at t = 0.5 it is the run's PQ; the faster a line falls, the more of "
        "the run's PQ comes from loose matches."
    )
    return render(fig, "pq_over_thresholds", caption)
