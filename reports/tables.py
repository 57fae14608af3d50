"""The report's tables (pandas): ablation, differences to `combined`, compute cost, timings.

Every table is built from the runs' results files only. Metrics are shown in percent, as the
paper prints them; a value a run does not have is NaN and shows as a dash. PQ and PQ† carry
their bootstrap confidence interval (`intervals.py`) in two more columns of the frame (and
the CSV), which the page shows under the value instead of as columns of their own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from panoptic_metrics import RunResults
from panoptic_metrics.bootstrap import BootstrapResult

from .convergence import convergence
from .intervals import REFERENCE_RUN, Intervals, reference_run
from .paper import METRIC_COLUMNS, PAPER_COST, PAPER_COST_SIZE, paper_dataset, paper_rows
from .runs import RunData, number
from .seeds import difference_spread

DASH = "—"
# The metrics with bootstrap intervals: table column -> BootstrapResult attribute.
WITH_INTERVALS = {"PQ": "pq", "PQ†": "pq_dagger"}
P_VALUE = "p (PQ)"
CONVERGENCE = "convergence"
SEEDS = "PQ over seeds"


@dataclass(frozen=True)
class Cell:
    """One formatted cell: its text and a note shown small under it (an interval)."""

    text: str
    note: str = ""


@dataclass(frozen=True)
class Table:
    """A named table: its frame, caption, a CSS kind per row and a format per column.

    `intervals` maps a column to the (low, high) columns of its confidence interval: those
    stay in the frame (and the CSV) but show as the column's note, not as columns. `notes`
    explain the table (the page lists them under it; the CSV has the frame only). `labels`
    and `groups` only change the page's header: the frame and the CSV keep the full names.
    """

    name: str
    caption: str
    frame: pd.DataFrame
    row_kinds: tuple[str, ...]
    formats: Mapping[str, str]
    intervals: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    title: str = ""  # the heading over the table (default: by its name, `sections.py`)
    notes: tuple[str, ...] = ()  # shown as a list under the caption
    labels: Mapping[str, str] = field(default_factory=dict)  # shorter headings on the page
    groups: tuple[tuple[str, int], ...] = ()  # a heading row above: (label, columns spanned)

    @property
    def columns(self) -> list[str]:
        """The columns shown: all but the interval bounds."""
        bounds = {c for pair in self.intervals.values() for c in pair}
        return [str(c) for c in self.frame.columns if c not in bounds]

    def cells(self) -> list[list[Cell]]:
        """The shown columns as text, formatted column by column; missing values as a dash."""
        return [
            [Cell(_fmt(row[c], self.formats.get(c)), self._note(row, c)) for c in self.columns]
            for _, row in self.frame.iterrows()
        ]

    def _note(self, row: pd.Series, column: str) -> str:
        """`[low, high]` of the column's interval, in the column's format; "" without one."""
        if column not in self.intervals:
            return ""
        low, high = (row[b] for b in self.intervals[column])
        if not _known(low, high):
            return ""
        spec = self.formats.get(column)
        return f"[{_fmt(low, spec)}, {_fmt(high, spec)}]"


def _known(*values: Any) -> bool:
    return all(number(v) is not None for v in values)


def _fmt(value: Any, spec: str | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    if spec and isinstance(value, int | float) and not isinstance(value, bool):
        return spec.format(value).replace("-", "−")
    return str(value)


def _pct(value: float | None) -> float:
    return float("nan") if value is None else 100.0 * value


def metric_values(metrics: RunResults) -> dict[str, float]:
    """The ablation columns of one run's metrics, in percent (NaN where undefined).

    AP_M is `MaskAPResult.ap` (COCO segm AP over IoU 0.50:0.95), mIoU `MiouResult.miou` and
    Boundary PQ `PanopticResults.boundary.pq` (docs/metrics.md, "Boundary PQ"), NaN where the
    run did not compute them.
    """
    p, mask_ap, miou = metrics.panoptic, metrics.mask_ap, metrics.miou
    return {
        "PQ": _pct(p.pq),
        "Boundary PQ": _pct(None if p.boundary is None else p.boundary.pq),
        "SQ": _pct(p.sq),
        "RQ": _pct(p.rq),
        "PQ_th": _pct(p.things.pq),
        "PQ_st": _pct(p.stuff.pq),
        "PQ†": _pct(p.pq_dagger),
        "AP_M": _pct(None if mask_ap is None else mask_ap.ap),
        "mIoU": _pct(None if miou is None else miou.miou),
    }


def _bounds(result: BootstrapResult | None) -> dict[str, float]:
    """`<column> low` and `<column> high` (%) for the columns with intervals; NaN without."""
    out = {}
    for column, attribute in WITH_INTERVALS.items():
        interval = getattr(result, attribute, None)
        out[f"{column} low"] = _pct(interval.low if interval else None)
        out[f"{column} high"] = _pct(interval.high if interval else None)
    return out


def _columns(extra: Sequence[str] = ()) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """The metric columns with each interval's bounds right after its column."""
    columns: list[str] = []
    for c in METRIC_COLUMNS:
        columns.append(c)
        if c in WITH_INTERVALS:
            columns += [f"{c} low", f"{c} high"]
    pairs = {c: (f"{c} low", f"{c} high") for c in WITH_INTERVALS}
    return columns + list(extra), pairs


def ablation_table(runs: Sequence[RunData], intervals: Intervals) -> Table:
    """One row per run with metrics, then the paper's rows for the datasets that match."""
    rows: list[dict[str, Any]] = []
    kinds: list[str] = []
    datasets: list[str] = []
    for run in runs:
        if run.metrics is None:
            continue
        rows.append(
            {
                "run": run.name,
                "source": "reproduced",
                "dataset": run.dataset,
                "images": float(run.metrics.panoptic.n_images),
            }
            | metric_values(run.metrics)
            | _bounds(intervals.per_run.get(run.name))
        )
        kinds.append("reproduced")
        key = paper_dataset(run.dataset)
        if key and key not in datasets:
            datasets.append(key)
    for key in datasets:
        for paper in paper_rows(key):
            rows.append(
                {"run": f"{paper.run} ({paper.label})", "source": paper.source, "dataset": key}
                | {c: float("nan") if v is None else v for c, v in paper.values.items()}
            )
            kinds.append("paper")
    metrics, pairs = _columns()
    frame = pd.DataFrame(rows, columns=["run", "source", "dataset", "images", *metrics])
    formats = {c: "{:.1f}" for c in metrics} | {"images": "{:.0f}"}
    caption = (
        "Every run's panoptic, instance and semantic metrics in %, with the paper's rows "
        "(marked in the source column) for the datasets it reports. Under PQ and PQ†: the "
        f"{intervals.settings.describe()}. Boundary PQ: PQ with each match's IoU the lower of "
        "its mask IoU and its boundary IoU (Cheng et al. 2021; the band of each segment is "
        "its pixels within 2% of the image diagonal of its contour unless the run's "
        "evaluation set another ratio); a dash where the run did not compute it."
    )
    return Table("ablation", caption, frame, tuple(kinds), formats, pairs)


def _minus(a: float | None, b: float | None) -> float:
    return float("nan") if a is None or b is None else a - b


def difference_table(runs: Sequence[RunData], intervals: Intervals) -> Table | None:
    """Each other run minus `combined`, in points, with paired intervals; the paper's own
    difference where it has one."""
    ref = reference_run(runs)
    if ref is None or ref.metrics is None:
        return None
    base = metric_values(ref.metrics)
    paper = {r.run: r for r in paper_rows(ref.dataset)}
    rows: list[dict[str, Any]] = []
    kinds: list[str] = []
    for run in runs:
        if run is ref or run.metrics is None:
            continue
        values = metric_values(run.metrics)
        paired = intervals.paired.get(run.name)
        rows.append(
            {"run": f"{run.name} − {REFERENCE_RUN}", "source": "reproduced"}
            | {c: values[c] - base[c] for c in base}
            | _bounds(paired)
            | {P_VALUE: paired.p_value if paired else float("nan")}
            | {CONVERGENCE: _states(run, ref)}
            | {SEEDS: _seeds(run, ref)}
        )
        kinds.append("reproduced")
        if run.name in paper and REFERENCE_RUN in paper:
            mine, theirs = paper[run.name].values, paper[REFERENCE_RUN].values
            diffs = {c: _minus(mine[c], theirs[c]) for c in METRIC_COLUMNS}
            label = f"{run.name} − {REFERENCE_RUN} (paper)"
            rows.append({"run": label, "source": paper[run.name].source} | diffs)
            kinds.append("paper")
    if not rows:
        return None
    metrics, pairs = _columns([P_VALUE])
    with_seeds = any(row.get(SEEDS) for row in rows)
    columns = ["run", "source", *metrics, *([SEEDS] if with_seeds else []), CONVERGENCE]
    frame = pd.DataFrame(rows, columns=columns)
    formats = {c: "{:+.1f}" for c in metrics} | {P_VALUE: "{:.3f}"}
    caption = (
        f"Differences to `{REFERENCE_RUN}` in percentage points. Under PQ and PQ†: the paired "
        f"{intervals.settings.describe()}, the same resampled images for both runs; an "
        f"interval that excludes 0 is a difference these images resolve. {P_VALUE}: the "
        f"two-sided bootstrap p-value of the PQ difference. {CONVERGENCE}: whether each run is "
        "at its plateau by its PQ curve (the last evaluation gained less than one PQ point); "
        "a difference between runs still improving may change with more training."
    )
    if with_seeds:
        caption += (
            f" {SEEDS}: the PQ difference of the runs trained with the same seeds (mean ± "
            "standard deviation, range), what another training would give, beside the "
            "interval over images."
        )
    return Table("differences", caption, frame, tuple(kinds), formats, pairs)


def _seeds(run: RunData, ref: RunData) -> str | None:
    seeds = difference_spread(run, ref)
    return None if seeds is None else seeds.describe()


def _states(run: RunData, ref: RunData) -> str:
    return "; ".join(f"{r.name}: {convergence(r).describe()}" for r in (run, ref))


def timing_table(runs: Sequence[RunData]) -> Table | None:
    """Per run: device, training time per iteration and in total, inference latency, memory."""
    rows = []
    for run in runs:
        t = run.timings
        if t is None:
            continue
        memory = number(t.get("peak_memory_bytes"))
        latency = number(t.get("inference_seconds_per_image"))
        train = number(t.get("train_seconds"))
        device = t.get("device")
        rows.append(
            {
                "run": run.name,
                "device": device if isinstance(device, str) else None,
                "train s / iteration": number(t.get("train_seconds_per_iteration")),
                "train time (min)": None if train is None else train / 60.0,
                "inference ms / image": None if latency is None else 1000.0 * latency,
                "peak memory (MiB)": None if memory is None else memory / 2**20,
            }
        )
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    formats = {
        "train s / iteration": "{:.3f}",
        "train time (min)": "{:.1f}",
        "inference ms / image": "{:.1f}",
        "peak memory (MiB)": "{:.0f}",
    }
    caption = "Measured on each run's own hardware (timings.json)."
    return Table("timings", caption, frame, ("reproduced",) * len(rows), formats)


__all__ = [
    "PAPER_COST",
    "PAPER_COST_SIZE",
    "Cell",
    "Table",
    "ablation_table",
    "difference_table",
    "metric_values",
    "timing_table",
]
