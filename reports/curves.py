"""Training curves from log.jsonl: every loss term and the learning rate against the iteration.

One panel per logged quantity (total loss, each loss key of docs/contracts.md §2, the learning
rate), one line per run, so that runs compare at a glance and a form without a branch simply
has no line in that panel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.ticker import FormatStrFormatter

from .figures import Plot, figure_legend, new_figure, render, run_colour, style_axes
from .runs import RunData, number

LOSS_KEYS: tuple[str, ...] = (
    "rpn_objectness",
    "rpn_box",
    "roi_class",
    "roi_box",
    "roi_mask",
    "semantic",
)
PANELS: tuple[str, ...] = ("loss", *LOSS_KEYS, "lr")


def series(run: RunData, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(iterations, values) of `key` in the run's log, skipping records without a finite value."""
    its, values = [], []
    for record in run.log:
        it, value = number(record.get("iteration")), number(record.get(key))
        if it is not None and value is not None:
            its.append(it)
            values.append(value)
    order = np.argsort(np.asarray(its), kind="stable")
    return np.asarray(its)[order], np.asarray(values)[order]


def logged_panels(runs: Sequence[RunData]) -> list[str]:
    """The panels that at least one run has data for, in the fixed order of `PANELS`."""
    return [k for k in PANELS if any(len(series(r, k)[0]) for r in runs)]


def training_curves(runs: Sequence[RunData]) -> Plot | None:
    """The grid of curves, or None when no run has a usable log."""
    panels = logged_panels(runs)
    if not panels:
        return None
    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    fig = new_figure(3.4 * cols, 2.5 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, key in zip(axes.flat, panels, strict=False):
        for i, run in enumerate(runs):
            x, y = series(run, key)
            if len(x):
                ax.plot(x, y, color=run_colour(i), linewidth=1.3, label=run.name)
        values = np.concatenate([series(r, key)[1] for r in runs])
        if key != "lr" and values.min() > 0 and values.max() / values.min() > 30:
            ax.set_yscale("log")  # losses spanning decades; otherwise linear reads better
            ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.set_title("learning rate" if key == "lr" else key, fontsize=10)
        ax.set_xlabel("iteration", fontsize=8)
        ax.tick_params(labelsize=8)
        style_axes(ax)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    figure_legend(fig, axes.flat)
    caption = (
        "Training curves: each loss term (log scale where it spans decades) and the learning "
        "rate per iteration."
    )
    return render(fig, "training_curves", caption)
