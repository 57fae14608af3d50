"""A section of the page (tables, plots, notices), and the sections built from metrics.json."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .categories import run_categories
from .decomposition import ERROR, error_comparisons, error_notices, error_plot, error_table
from .figures import Plot
from .groups import CLASSES, GROUP, group_notices, group_table
from .histograms import iou_histogram_plot
from .html import data_uri
from .intervals import Intervals
from .paper import paper_dataset
from .runs import RunData
from .tables import Table, ablation_table, difference_table
from .thresholds import threshold_notices, threshold_plot

TABLE_TITLES = {
    "ablation": "",
    "differences": "Differences to combined",
    "cost": "Parameters and multiply-adds",
    "timings": "Latency, memory and training time",
}
TEXT_COLUMNS = {
    "run",
    "source",
    "dataset",
    "device",
    "figure",
    "convergence",
    "PQ over seeds",
    GROUP,
    CLASSES,
    ERROR,
}


@dataclass(frozen=True)
class Section:
    """One `<section>` of the page."""

    id: str
    title: str
    lead: str = ""
    tables: Sequence[Table] = field(default=())
    plots: Sequence[Plot] = field(default=())
    notices: Sequence[str] = field(default=())
    details: Sequence[tuple[str, str]] = field(default=())
    grid: bool = False

    def render(self) -> dict[str, Any]:
        """The template's view of the section: strings only, escaped by the template."""
        return {
            "id": self.id,
            "title": self.title,
            "lead": self.lead,
            "grid": self.grid,
            "notices": list(self.notices),
            "tables": [_table_view(t) for t in self.tables],
            "plots": [
                {
                    "name": p.name,
                    "caption": p.caption,
                    "uri": data_uri(p.png),
                    "files": [f"plots/{p.name}.png"] + ([f"plots/{p.name}.svg"] if p.svg else []),
                }
                for p in self.plots
            ],
            "details": [{"summary": s, "text": t} for s, t in self.details],
        }


def _table_view(table: Table) -> dict[str, Any]:
    columns = table.columns
    rows = [
        {
            "kind": kind,
            "cells": [
                {"value": cell.text, "note": cell.note, "text": c in TEXT_COLUMNS}
                for c, cell in zip(columns, cells, strict=True)
            ],
        }
        for kind, cells in zip(table.row_kinds, table.cells(), strict=True)
    ]
    return {
        "name": table.name,
        "title": table.title or TABLE_TITLES.get(table.name, ""),
        "caption": table.caption,
        "notes": list(table.notes),
        "header": [table.labels.get(c, c) for c in columns],
        "groups": [{"label": label, "span": span} for label, span in table.groups],
        "rows": rows,
        "has_paper": "paper" in table.row_kinds,
    }


def _metric_notices(runs: Sequence[RunData]) -> list[str]:
    """What each run's metrics lack for the table: mask AP, mIoU."""
    notices = []
    for run in runs:
        if run.metrics is None:
            continue
        if run.metrics.mask_ap is None:
            notices.append(f"{run.name}: mask AP was not computed (metrics.json mask_ap is null)")
        if run.metrics.miou is None or math.isnan(run.metrics.miou.miou):
            notices.append(f"{run.name}: no mIoU (metrics.json miou is missing or null)")
    return notices


def ablation_section(runs: Sequence[RunData], intervals: Intervals) -> Section:
    """Every run's metrics, the paper's rows where the dataset matches, differences to combined."""
    tables = [ablation_table(runs, intervals)]
    diff = difference_table(runs, intervals)
    if diff is not None:
        tables.append(diff)
    notices = _metric_notices(runs) + list(intervals.notices)
    if all(r.metrics is None for r in runs):
        notices.append("no run has a usable metrics.json: the ablation table is empty")
    if diff is None and len(runs) > 1:
        notices.append("no run named `combined` with metrics: no differences to show")
    lead = (
        "PQ, SQ, RQ, PQ of things and stuff, PQ†, mask AP and mIoU, all in %; under PQ and "
        f"PQ† their {100 * intervals.settings.confidence:g}% confidence interval over the "
        "evaluated images."
    )
    others = dict.fromkeys(
        str(r.dataset) for r in runs if r.metrics is not None and not paper_dataset(r.dataset)
    )
    if others:
        lead += f" The paper reports no numbers on {', '.join(others)}: no paper rows here."
    return Section("ablation", "Ablation", lead, tables=tables, notices=notices)


def histogram_section(runs: Sequence[RunData]) -> Section:
    """Best-overlap IoU histograms per class with the 0.5 threshold drawn."""
    notices = []
    if all(r.metrics is None for r in runs):
        notices.append("no run has a usable metrics.json: no IoU histograms")
    plot = iou_histogram_plot(runs, run_categories(runs))
    lead = (
        "For every ground-truth segment, the IoU of its best-overlapping prediction of the same "
        "class: segments just under the 0.5 threshold are the ones PQ over-penalises (Fig. 3)."
    )
    plots = [plot] if plot else []
    return Section("iou-histograms", "IoU histograms", lead, plots=plots, notices=notices)


def threshold_section(runs: Sequence[RunData]) -> Section:
    """PQ against the IoU threshold of the matching, per run (metrics.json `pq_at`)."""
    plot = threshold_plot(runs)
    lead = (
        "PQ with the matching threshold raised from 0.5 to 0.95: how much of each run's PQ "
        "rests on loose matches, as COCO's AP over 0.50:0.95 shows it for detection."
    )
    plots = [plot] if plot else []
    notices = threshold_notices(runs)
    return Section("iou-thresholds", "PQ over IoU thresholds", lead, plots=plots, notices=notices)


def group_section(runs: Sequence[RunData]) -> Section:
    """PQ per named group of classes, per run (metrics.json `groups`)."""
    table = group_table(runs)
    lead = "PQ per group of classes (on Cityscapes labels: its categories), run beside run."
    tables = [table] if table else []
    notices = group_notices(runs)
    return Section("class-groups", "PQ per class group", lead, tables=tables, notices=notices)


def error_section(runs: Sequence[RunData], intervals: Intervals) -> Section:
    """The error decomposition per run (metrics.json `errors`): a chart of ΔPQ per cause and
    a table with each run's difference to `combined` and its paired interval."""
    comparisons, pairing = error_comparisons(runs, intervals.settings)
    plot = error_plot(runs, comparisons)
    table = error_table(runs, comparisons, intervals.settings)
    lead = (
        "Why each run loses PQ: every false negative and false positive has one cause (class "
        "confusion, merge, split, localisation, missed; duplicate, background, crowd or void), "
        "and ΔPQ is the PQ an oracle would gain by fixing that cause alone, as TIDE does for AP."
    )
    return Section(
        "errors",
        "Error decomposition",
        lead,
        tables=[table] if table else [],
        plots=[plot] if plot else [],
        notices=error_notices(runs) + pairing,
    )
