"""Per-class plots from metrics.json `per_class`: PQ, SQ, RQ, PQ†; PQ − PQ† on stuff; FP/FN.

Classes run along the x axis (stuff, then things, in the dataset's order); each run is one
bar of a group, in the run's colour. A class a run has no numbers for leaves a gap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes

from .categories import Category
from .figures import Plot, new_figure, render, run_colour, style_axes
from .runs import RunData, number

QUALITY_KEYS: tuple[tuple[str, str], ...] = (
    ("pq", "PQ"),
    ("sq", "SQ"),
    ("rq", "RQ"),
    ("pq_dagger", "PQ†"),
)


def class_value(run: RunData, category: Category, key: str) -> float:
    """`per_class[<id>][key]` of the run as a float, NaN where absent."""
    per_class = (run.metrics or {}).get("per_class")
    entry = per_class.get(str(category.id)) if isinstance(per_class, Mapping) else None
    value = number(entry.get(key)) if isinstance(entry, Mapping) else None
    return float("nan") if value is None else value


def _has_per_class(runs: Sequence[RunData]) -> list[RunData]:
    return [r for r in runs if isinstance((r.metrics or {}).get("per_class"), Mapping)]


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
    """PQ, SQ, RQ and PQ† per class (%), one panel each, runs side by side."""
    have = _has_per_class(runs)
    if not have or not categories:
        return None
    fig = new_figure(max(8.0, 0.45 * len(categories) * max(1, len(have)) ** 0.5 + 3), 9.5)
    axes = fig.subplots(len(QUALITY_KEYS), 1, sharex=True)
    for ax, (key, label) in zip(axes, QUALITY_KEYS, strict=True):
        values = [np.array([100 * class_value(r, c, key) for c in categories]) for r in have]
        grouped_bars(ax, categories, have, values, _colours(have, runs))
        ax.set_ylabel(f"{label} (%)", fontsize=9)
        ax.set_ylim(0, 100)
    axes[0].legend(fontsize=8, ncols=min(len(have), 6), loc="lower left", bbox_to_anchor=(0, 1))
    caption = "Per-class PQ, SQ, RQ and PQ† (%); the dotted line separates stuff from things."
    return render(fig, "per_class_quality", caption)


def gap_plot(runs: Sequence[RunData], categories: Sequence[Category]) -> Plot | None:
    """PQ − PQ† per stuff class (points): where the 0.5 threshold costs a class most."""
    have = _has_per_class(runs)
    stuff = [c for c in categories if c.isthing is False]
    if not have or not stuff:
        return None
    fig = new_figure(max(6.0, 0.5 * len(stuff) + 2.5), 3.4)
    ax = fig.subplots()
    values = [
        np.array([100 * (class_value(r, c, "pq") - class_value(r, c, "pq_dagger")) for c in stuff])
        for r in have
    ]
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
        values = [np.array([class_value(r, c, key) for c in categories]) for r in have]
        grouped_bars(ax, categories, have, values, _colours(have, runs))
        ax.set_ylabel(label, fontsize=9)
    axes[0].legend(fontsize=8, ncols=min(len(have), 6), loc="lower left", bbox_to_anchor=(0, 1))
    caption = "FP and FN segments per class over the evaluated split (metrics.json per_class)."
    return render(fig, "fp_fn_per_class", caption)
