"""Build the report: load the runs, make every table and plot, write the page and its files.

`build_report(run_dirs)` is the one call (the demo's and `python -m reports`'): it never
raises on bad run files (what is missing becomes a notice on the page and in the log) and
returns the path of report.html. `write_report` does the same and also returns what was
written and the notices.

Output folder layout (default: `report/` beside the runs):

    report.html            the self-contained page (every image embedded as a data URI)
    tables/<name>.csv      every table of the page
    plots/<name>.png|svg   every plot (panels as PNG only)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from panoptic_metrics import PanopticInputError

from . import __version__
from .categories import category_colours, run_categories
from .convergence import pq_curve_plot
from .cost import CostFigures, cost_table, gather_cost, glance_cost, read_cost_file, table_name
from .curves import training_curves
from .figures import Plot
from .groundtruth import locate
from .html import render_page, write_atomic
from .intervals import BootstrapSettings, Intervals, bootstrap_runs
from .overview import glance_cards
from .panels import qualitative_panels
from .perclass import error_counts_plot, gap_plot, quality_plot
from .runs import RunData, load_run
from .sections import (
    Section,
    ablation_section,
    error_section,
    group_section,
    histogram_section,
    threshold_section,
)
from .summary import common, summarise
from .tables import Table, timing_table

log = logging.getLogger(__name__)
TITLE = "Seamless Scene Segmentation: reproduction report"


@dataclass(frozen=True)
class ReportOptions:
    """What to build: the title, how many qualitative panels and from which ground truth
    (found from the runs' config.json when not given), how the intervals are drawn, and cost
    files that belong to no run (`benchmark.compute_cost --output F`, e.g. our network in the
    paper's configuration), each shown as its own table beside the paper's figures."""

    title: str = TITLE
    panels: int = 3
    gt_json: Path | None = None
    gt_folder: Path | None = None
    images: Path | None = None
    bootstrap: BootstrapSettings = field(default_factory=BootstrapSettings)
    cost_files: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Report:
    """What was written: the page, the CSVs and plots beside it, and the notices shown."""

    html: Path
    tables: tuple[Path, ...]
    plots: tuple[Path, ...]
    notices: tuple[str, ...] = field(default=())


def _per_class_section(runs: Sequence[RunData]) -> Section:
    categories = run_categories(runs)
    plots = [p for p in (quality_plot(runs, categories), gap_plot(runs, categories)) if p]
    plots += [p for p in (error_counts_plot(runs, categories),) if p]
    notices = [] if plots else ["no run has per-class results (metrics.json `per_class`)"]
    lead = "Where each run wins and loses, class by class: stuff on the left, things on the right."
    return Section("per-class", "Per class", lead, plots=plots, notices=notices)


def _cost_section(
    runs: Sequence[RunData], runs_cost: CostFigures, files: Sequence[CostFigures]
) -> Section:
    """The cost files' tables (our network as the paper counts it) first, then the runs'."""
    tables: list[Table] = []
    for cost in files:
        table = cost_table(cost, table_name(cost, [t.name for t in tables]))
        tables += [table] if table is not None else []
    tables += [t for t in (cost_table(runs_cost), timing_table(runs)) if t is not None]
    notices = [n for cost in files for n in cost.notices] + list(runs_cost.notices)
    if not runs_cost.forms:
        notices.append("no run has a usable cost.json: the runs' cost comparison is missing")
    if not any(r.timings for r in runs):
        notices.append("no run has a usable timings.json: latency and memory are missing")
    lead = "Does the combined model cost a fraction of the two independent ones? (paper §5.4)"
    if any(cost.paper_setting and cost.forms for cost in files):
        lead += (
            " First our network in the paper's configuration, counted as the paper counts; "
            "then the smaller models the runs trained, and what they measured."
        )
    return Section("cost", "Compute cost", lead, tables=tables, notices=notices)


def _panel_section(runs: Sequence[RunData], options: ReportOptions) -> Section:
    lead = (
        "Coloured overlays of the ground truth and of each run's prediction, with its errors "
        "as PQ counts them (panoptic_metrics' matching)."
    )
    if options.panels == 0:
        return Section("panels", "Qualitative panels", lead, notices=["no panels asked for"])
    try:
        paths = locate(runs, options.gt_json, options.gt_folder, options.images)
        plots, notices = qualitative_panels(runs, paths, category_colours(runs), options.panels)
    except PanopticInputError as err:
        plots, notices = [], [f"qualitative panels left out: {err}"]
    return Section("panels", "Qualitative panels", lead, plots=plots, notices=notices, grid=True)


def _curves_section(runs: Sequence[RunData]) -> Section:
    plots = [p for p in (pq_curve_plot(runs), training_curves(runs)) if p is not None]
    notices = [f"{r.name}: no usable log.jsonl records" for r in runs if not r.log]
    notices += [f"{r.name}: no PQ curve (curve.jsonl)" for r in runs if not r.curve]
    return Section(
        "curves",
        "Training curves",
        "PQ along the way, evaluated during training (curve.jsonl), with whether each run has "
        "reached its plateau; every loss term and the learning rate per iteration (log.jsonl).",
        plots=plots,
        notices=notices,
    )


def _config_section(runs: Sequence[RunData]) -> Section:
    details = [
        (f"{r.name}: {name}", json.dumps(data, indent=1, sort_keys=True))
        for r in runs
        for name, data in (("config.json", r.config), ("environment.json", r.environment))
        if data is not None
    ]
    return Section("configs", "Run files", "The runs' own descriptions, verbatim.", details=details)


def _write_outputs(output: Path, sections: Sequence[Section]) -> tuple[list[Path], list[Path]]:
    tables, plots = [], []
    for section in sections:
        for table in section.tables:
            tables.append(
                write_atomic(
                    output / "tables" / f"{table.name}.csv", table.frame.to_csv(index=False)
                )
            )
        for plot in section.plots:
            plots.append(write_atomic(output / "plots" / f"{plot.name}.png", plot.png))
            if plot.svg:
                plots.append(write_atomic(output / "plots" / f"{plot.name}.svg", plot.svg))
    return tables, plots


def default_output(run_dirs: Sequence[str | Path]) -> Path:
    """`report/` in the folder holding the (first) run directory."""
    return Path(run_dirs[0]).resolve().parent / "report"


def write_report(
    run_dirs: Sequence[str | Path],
    output: str | Path | None = None,
    options: ReportOptions | None = None,
) -> Report:
    """Build the report of `run_dirs` into `output`; never raises on bad run files."""
    if not run_dirs:
        raise ValueError("run_dirs is empty: give at least one run directory")
    options = options or ReportOptions()
    if options.panels < 0:
        raise ValueError(f"options.panels must be >= 0, got {options.panels}")
    runs = [load_run(p) for p in run_dirs]
    intervals = bootstrap_runs(runs, options.bootstrap)
    runs_cost = gather_cost(runs)
    cost_files = [read_cost_file(p) for p in options.cost_files]
    sections = [
        ablation_section(runs, intervals),
        _per_class_section(runs),
        histogram_section(runs),
        threshold_section(runs),
        error_section(runs, intervals),
        group_section(runs),
        _cost_section(runs, runs_cost, cost_files),
        _panel_section(runs, options),
        _curves_section(runs),
        _config_section(runs),
    ]
    folder = Path(output) if output is not None else default_output(run_dirs)
    tables, plots = _write_outputs(folder, sections)
    notices = [f"{r.name}: {n}" for r in runs for n in r.notices]
    glance = glance_cost(runs_cost, cost_files)
    html = render_page(_context(runs, sections, notices, intervals, options, glance))
    page = write_atomic(folder / "report.html", html)
    all_notices = notices + [n for s in sections for n in s.notices]
    for notice in all_notices:
        log.warning("report: %s", notice)
    log.info("report written to %s (%d notices)", page, len(all_notices))
    return Report(page, tuple(tables), tuple(plots), tuple(all_notices))


def build_report(
    run_dirs: Sequence[str | Path],
    output: str | Path | None = None,
    options: ReportOptions | None = None,
) -> Path:
    """Build the HTML report of `run_dirs` and return the path of its report.html.

    Args:
        run_dirs: run directories (docs/contracts.md §4); the differences are taken to the
            one named `combined`.
        output: the report folder; default `report/` beside the first run directory.
        options: title, panels, ground truth, bootstrap settings, cost files of no run
            (`ReportOptions()`).

    Missing or damaged run files never raise: the page says what is missing, and each
    notice is logged as a warning.

    Example:
        >>> build_report(["runs/combined", "runs/independent"])  # doctest: +SKIP
        PosixPath('.../runs/report/report.html')
    """
    return write_report(run_dirs, output, options).html


def _context(
    runs: Sequence[RunData],
    sections: Sequence[Section],
    notices: list[str],
    intervals: Intervals,
    options: ReportOptions,
    cost: CostFigures,
) -> dict[str, Any]:
    summaries = [summarise(r) for r in runs]
    return {
        "title": options.title,
        "version": __version__,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "data_line": common([" / ".join(x for x in (s.dataset, s.split) if x) for s in summaries]),
        "hardware_line": common([s.hardware or s.device for s in summaries]),
        "commit_line": common([s.commit for s in summaries]),
        "runs": [s.__dict__ for s in summaries],
        "cards": glance_cards(runs, intervals, cost),
        "notices": notices,
        "sections": [s.render() for s in sections],
    }


__all__ = ["Plot", "Report", "ReportOptions", "Table", "build_report", "write_report"]
