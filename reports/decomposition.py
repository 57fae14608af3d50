"""The error decomposition (docs/metrics.md, "Error decomposition"): a chart of ΔPQ per cause
with a bar per run, and a table of the same numbers with each run's difference to `combined`
and the paired bootstrap interval of that difference.

The numbers are each run's `PanopticResults.errors` (metrics.json `errors`) and
panoptic_metrics' `error_analysis.compare_errors` (the resamples of `paired_bootstrap`, with
the report's bootstrap settings); a run whose metrics.json has no `errors` (an older
panoptic_metrics) gets a notice instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from panoptic_metrics.decomposition import AGGREGATE_FIXES, CAUSES, FIXES
from panoptic_metrics.error_analysis import ErrorComparison, compare_errors, label

from .figures import Plot, figure_legend, new_figure, render, run_colour, style_axes
from .intervals import REFERENCE_RUN, BootstrapSettings, reference_run
from .runs import RunData, lacking
from .tables import Table

ERROR = "error"
# Drawn in the chart: the causes and the aggregates but `everything` (= 1 − PQ, in the table).
CHARTED = CAUSES + tuple(f for f in AGGREGATE_FIXES if f != "everything")


def error_runs(runs: Sequence[RunData]) -> list[RunData]:
    """The runs whose metrics carry the decomposition."""
    return [r for r in runs if r.results is not None and r.results.errors is not None]


def error_notices(runs: Sequence[RunData]) -> list[str]:
    """A notice per run with metrics but no `errors`; one more when no run has any."""
    what = "error decomposition (`errors`; written by an older panoptic_metrics)"
    return lacking(runs, lambda r: r.errors is not None, what, "error decomposition")


def _deltas(run: RunData) -> dict[str, float]:
    errors = None if run.results is None else run.results.errors
    assert errors is not None
    return dict(errors.overall.delta_pq)


def error_plot(runs: Sequence[RunData], comparisons: Mapping[str, ErrorComparison]) -> Plot | None:
    """ΔPQ (points) of each cause and aggregate fix, one horizontal bar per run; beside it,
    with `comparisons`, each run's difference to `combined` and its paired interval. None
    when no run has the decomposition."""
    drawn = [(i, run) for i, run in enumerate(runs) if run in error_runs(runs)]
    if not drawn:
        return None
    wide = bool(comparisons)
    fig = new_figure(10.0 if wide else 7.0, 0.42 * len(CHARTED) + 1.2)
    axes = fig.subplots(1, 2, sharey=True, width_ratios=(3, 2)) if wide else [fig.subplots()]
    ax = axes[0]
    height = 0.8 / len(drawn)
    y = np.arange(len(CHARTED))
    for k, (i, run) in enumerate(drawn):
        values = _deltas(run)
        bars = [100 * values[f] for f in CHARTED]
        offset = (k - (len(drawn) - 1) / 2) * height
        ax.barh(y + offset, bars, height=height, color=run_colour(i), label=run.name)
    ax.set_yticks(y, [label(f) for f in CHARTED], fontsize=8.5)
    ax.invert_yaxis()
    ax.axhline(len(CAUSES) - 0.5, color="#999999", lw=0.8, ls="--")
    ax.set_xlabel("ΔPQ: PQ points gained by fixing the errors of this cause alone", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    style_axes(ax)
    if wide:
        _difference_panel(axes[1], runs, comparisons, y)
    figure_legend(fig, [ax], fontsize=9)
    caption = (
        "Where each run loses PQ (metrics.json `errors`): every FN and FP has one cause, and "
        "a bar is the PQ gained when an oracle fixes that cause alone (a fixed FN becomes a "
        "perfect match, a fixed FP is removed); below the dashed line all FNs, all FPs, and "
        "every match's mask made perfect. Fixing everything gives 1 − PQ (in the table)."
    )
    if wide:
        confidence = next(iter(comparisons.values())).confidence
        caption += (
            f" Right: each run's ΔPQ minus `{REFERENCE_RUN}`'s, with the paired "
            f"{100 * confidence:g}% bootstrap interval over images (whiskers)."
        )
    return render(fig, "error_decomposition", caption)


def _difference_panel(
    ax: Any, runs: Sequence[RunData], comparisons: Mapping[str, ErrorComparison], y: np.ndarray
) -> None:
    """ΔPQ(run) − ΔPQ(combined) per charted fix, a dot with whiskers per compared run."""
    shown = [(i, r) for i, r in enumerate(runs) if r.name in comparisons]
    step = 0.8 / max(1, len(shown))
    for k, (i, run) in enumerate(shown):
        diff = comparisons[run.name].difference
        points = np.array([100 * diff[f].estimate for f in CHARTED])
        low = np.array([100 * diff[f].low for f in CHARTED])
        high = np.array([100 * diff[f].high for f in CHARTED])
        whiskers = np.vstack([np.maximum(points - low, 0), np.maximum(high - points, 0)])
        offset = (k - (len(shown) - 1) / 2) * step
        ax.errorbar(
            points, y + offset, xerr=whiskers, fmt="o", ms=3.5, color=run_colour(i), capsize=2
        )
    ax.axvline(0, color="#555555", lw=0.8)
    ax.axhline(len(CAUSES) - 0.5, color="#999999", lw=0.8, ls="--")
    ax.set_xlabel(f"ΔPQ minus {REFERENCE_RUN}'s (points)", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    style_axes(ax)


def _compare(run: RunData, ref: RunData, settings: BootstrapSettings) -> ErrorComparison | None:
    assert run.results is not None
    assert ref.results is not None
    try:
        with warnings.catch_warnings():  # undefined means are NaN, shown as dashes
            warnings.simplefilter("ignore", RuntimeWarning)
            return compare_errors(
                run.results,
                ref.results,
                n_samples=settings.n_samples,
                seed=settings.seed,
                confidence=settings.confidence,
            )
    except ValueError:  # PanopticInputError: other images or categories
        return None


def error_comparisons(
    runs: Sequence[RunData], settings: BootstrapSettings
) -> tuple[dict[str, ErrorComparison], list[str]]:
    """Each run's comparison with `combined` (by run name), and the notices of those that
    could not be paired."""
    found = error_runs(runs)
    ref = reference_run(found)
    notices: list[str] = []
    comparisons: dict[str, ErrorComparison] = {}
    if ref is not None:
        for run in found:
            if run is ref:
                continue
            comparison = _compare(run, ref, settings)
            if comparison is None:
                notices.append(
                    f"{run.name} − {ref.name}: no paired interval of the error decomposition "
                    "(not the same images or categories)"
                )
            else:
                comparisons[run.name] = comparison
    return comparisons, notices


def error_table(
    runs: Sequence[RunData],
    comparisons: Mapping[str, ErrorComparison],
    settings: BootstrapSettings,
) -> Table | None:
    """ΔPQ (points) per cause and fix (rows): a column per run with the decomposition, and
    for each compared run its difference to `combined` with the paired interval."""
    found = error_runs(runs)
    if not found:
        return None
    rows: list[dict[str, Any]] = []
    for fix in FIXES:
        row: dict[str, Any] = {ERROR: label(fix)}
        for run in found:
            row[run.name] = 100 * _deltas(run)[fix]
        for name, comparison in comparisons.items():
            d = comparison.difference[fix]
            column = f"{name} − {REFERENCE_RUN}"
            row |= {column: 100 * d.estimate, f"{column} low": 100 * d.low}
            row[f"{column} high"] = 100 * d.high
        rows.append(row)
    columns = [ERROR, *(r.name for r in found)]
    pairs = {}
    for name in comparisons:
        column = f"{name} − {REFERENCE_RUN}"
        columns += [column, f"{column} low", f"{column} high"]
        pairs[column] = (f"{column} low", f"{column} high")
    frame = pd.DataFrame(rows, columns=columns)
    formats = {r.name: "{:.2f}" for r in found} | {c: "{:+.2f}" for c in pairs}
    caption = (
        'ΔPQ in PQ points per cause of error (docs/metrics.md, "Error decomposition"): how '
        "much PQ rises when an oracle fixes the errors of that cause alone; `everything` is "
        "1 − PQ."
    )
    if comparisons:
        caption += (
            f" Differences to `{REFERENCE_RUN}` with the paired {settings.describe()} under "
            "each: an interval that excludes 0 is a difference these images resolve."
        )
    kinds = ("reproduced",) * len(rows)
    return Table("errors", caption, frame, kinds, formats, pairs, title="Error decomposition (ΔPQ)")
