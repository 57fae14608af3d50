"""Per-class plots: PQ, SQ, RQ, PQ† and semantic IoU; PQ − PQ† on stuff; FP/FN counts.

The panoptic numbers are each run's `PanopticResults.per_class` (panoptic_metrics), the gap
is the library's `analysis.dagger_gaps`, the IoU the run's `MiouResult` (metrics.json
`per_class_iou`, contracts §4). Classes run along the x axis (stuff, then things, in the
evaluation's order); each run is one bar of a group, in the run's colour. A class a run has
no number for leaves a gap.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from panoptic_metrics import Category, ClassResult
from panoptic_metrics.analysis import dagger_gaps

from .figures import Plot, new_figure, render, run_colour, style_axes
from .runs import RunData

QUALITY_KEYS: tuple[tuple[str, str], ...] = (
    ("pq", "PQ"),
    ("sq", "SQ"),
    ("rq", "RQ"),
    ("pq_dagger", "PQ†"),
)
IOU_LABEL = "IoU (semantic)"


def class_results(run: RunData) -> dict[int, ClassResult]:
    """Category id -> the run's per-class result (empty without results)."""
    return {} if run.results is None else {c.category.id: c for c in run.results.per_class}


def class_values(run: RunData, categories: Sequence[Category], key: str) -> np.ndarray:
    """`ClassResult.<key>` of every category as floats, NaN where the run has none."""
    found = class_results(run)
    return np.array(
        [float(getattr(found[c.id], key)) if c.id in found else np.nan for c in categories]
    )


def class_iou(run: RunData, categories: Sequence[Category]) -> np.ndarray:
    """The run's semantic IoU (`MiouResult.per_class_iou`) of every category, NaN where absent."""
    miou = None if run.metrics is None else run.metrics.miou
    found = {} if miou is None else dict(zip(miou.category_ids, miou.per_class_iou, strict=True))
    return np.array([found.get(c.id, np.nan) for c in categories])


def _has_per_class(runs: Sequence[RunData]) -> list[RunData]:
    return [r for r in runs if r.results is not None]


def grouped_bars(
    ax: Axes,
    categories: Sequence[Category],
    runs: Sequence[RunData],
    values: Sequence[np.ndarray],
    colours: Sequence[str],
) -> None:
    """Bars of `values[i]` (one per category) for each run, grouped by category."""
    n = max(len(runs), 1)
    width = 0.8 / n
    x = np.arange(len(categories))
    for i, (run, v, colour) in enumerate(zip(runs, values, colours, strict=True)):
        ax.bar(x - 0.4 + width * (i + 0.5), v, width, color=colour, label=run.name)
    ax.set_xticks(x, [c.name for c in categories], rotation=40, ha="right", fontsize=8)
    ax.set_xlim(-0.6, len(categories) - 0.4)
    n_stuff = sum(1 for c in categories if not c.isthing)
    if 0 < n_stuff < len(categories):
        ax.axvline(n_stuff - 0.5, color="#555555", linewidth=0.8, linestyle=":")
    ax.tick_params(axis="y", labelsize=8)
    style_axes(ax)


def _colours(runs: Sequence[RunData], all_runs: Sequence[RunData]) -> list[str]:
    return [run_colour(list(all_runs).index(r)) for r in runs]


def quality_plot(runs: Sequence[RunData], categories: Sequence[Category]) -> Plot | None:
    """PQ, SQ, RQ, PQ† and, where the runs have it, semantic IoU per class (%), one panel
    each, runs side by side."""
    have = _has_per_class(runs)
    if not have or not categories:
        return None
    panels = [
        (label, [100 * class_values(r, categories, key) for r in have])
        for key, label in QUALITY_KEYS
    ]
    ious = [100 * class_iou(r, categories) for r in have]
    if any(np.isfinite(v).any() for v in ious):
        panels.append((IOU_LABEL, ious))
    fig = new_figure(
        max(8.0, 0.45 * len(categories) * max(1, len(have)) ** 0.5 + 3), 2.4 * len(panels)
    )
    axes = fig.subplots(len(panels), 1, sharex=True)
    for ax, (label, values) in zip(axes, panels, strict=True):
        grouped_bars(ax, categories, have, values, _colours(have, runs))
        ax.set_ylabel(f"{label} (%)", fontsize=9)
        ax.set_ylim(0, 100)
    axes[0].legend(fontsize=8, ncols=min(len(have), 6), loc="lower left", bbox_to_anchor=(0, 1))
    caption = (
        "Per-class PQ, SQ, RQ, PQ† and semantic IoU (%); the dotted line separates stuff "
        "from things."
    )
    return render(fig, "per_class_quality", caption)


def _gaps(run: RunData, categories: Sequence[Category]) -> np.ndarray:
    """PQ_c − PQ†_c of every category (panoptic_metrics' `dagger_gaps`), NaN where undefined."""
    gaps = {} if run.results is None else {g.category.id: g.gap for g in dagger_gaps(run.results)}
    return np.array([gaps.get(c.id, np.nan) for c in categories])


def gap_plot(runs: Sequence[RunData], categories: Sequence[Category]) -> Plot | None:
    """PQ − PQ† per stuff class (points): where the 0.5 threshold costs a class most."""
    have = _has_per_class(runs)
    stuff = [c for c in categories if not c.isthing]
    if not have or not stuff:
        return None
    fig = new_figure(max(6.0, 0.5 * len(stuff) + 2.5), 3.4)
    ax = fig.subplots()
    values = [100 * _gaps(r, stuff) for r in have]
    grouped_bars(ax, stuff, have, values, _colours(have, runs))
    ax.axhline(0, color="#333333", linewidth=0.8)
    ax.set_ylabel("PQ − PQ† (points)", fontsize=9)
    ax.legend(fontsize=8, ncols=min(len(have), 6))
    caption = (
        "PQ − PQ† per stuff class: negative where PQ† credits the overlaps below 0.5 "
        "IoU that PQ counts as a false positive plus a false negative."
    )
    return render(fig, "pq_minus_pq_dagger", caption)


def error_counts_plot(runs: Sequence[RunData], categories: Sequence[Category]) -> Plot | None:
    """False positives and false negatives per class, summed over the evaluated images."""
    have = _has_per_class(runs)
    if not have or not categories:
        return None
    fig = new_figure(max(8.0, 0.45 * len(categories) + 3), 5.6)
    axes = fig.subplots(2, 1, sharex=True)
    for ax, key, label in zip(
        axes, ("fp", "fn"), ("false positives", "false negatives"), strict=True
    ):
        values = [class_values(r, categories, key) for r in have]
        grouped_bars(ax, categories, have, values, _colours(have, runs))
        ax.set_ylabel(label, fontsize=9)
    axes[0].legend(fontsize=8, ncols=min(len(have), 6), loc="lower left", bbox_to_anchor=(0, 1))
    caption = "FP and FN segments per class over the evaluated split (metrics.json per_class)."
    return render(fig, "fp_fn_per_class", caption)
