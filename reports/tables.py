"""The report's tables (pandas): ablation, differences to `combined`, compute cost, timings.

Every table is built from the runs' results files only. Metrics are shown in percent, as the
paper prints them; a value a run does not have is NaN and shows as a dash.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .paper import METRIC_COLUMNS, PAPER_COST, PAPER_COST_SIZE, paper_dataset, paper_rows
from .runs import RunData, number

DASH = "—"
REFERENCE_RUN = "combined"


@dataclass(frozen=True)
class Table:
    """A named table: its frame, caption, a CSS kind per row and a format per column."""

    name: str
    caption: str
    frame: pd.DataFrame
    row_kinds: tuple[str, ...]
    formats: Mapping[str, str]

    def cells(self) -> list[list[str]]:
        """The body as text, formatted column by column; missing values as a dash."""
        out = []
        for _, row in self.frame.iterrows():
            out.append([_fmt(row[c], self.formats.get(str(c))) for c in self.frame.columns])
        return out


def _fmt(value: Any, spec: str | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    if spec and isinstance(value, int | float) and not isinstance(value, bool):
        return spec.format(value)
    return str(value)


def _pct(value: Any) -> float:
    v = number(value)
    return float("nan") if v is None else 100.0 * v


def _mask_ap(value: Any) -> Any:
    """`mask_ap` is a fraction, or an object holding it as `ap` (pycocotools' first stat)."""
    return value.get("ap") if isinstance(value, Mapping) else value


def _block(metrics: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = metrics.get(key)
    return value if isinstance(value, Mapping) else {}


def metric_values(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The ablation columns of one metrics.json, in percent (NaN where absent)."""
    things, stuff = _block(metrics, "things"), _block(metrics, "stuff")
    return {
        "PQ": _pct(metrics.get("pq")),
        "SQ": _pct(metrics.get("sq")),
        "RQ": _pct(metrics.get("rq")),
        "PQ_th": _pct(things.get("pq")),
        "PQ_st": _pct(stuff.get("pq")),
        "PQ†": _pct(metrics.get("pq_dagger")),
        "AP_M": _pct(_mask_ap(metrics.get("mask_ap"))),
        "mIoU": _pct(metrics.get("miou")),
    }


def ablation_table(runs: Sequence[RunData]) -> Table:
    """One row per run with metrics, then the paper's rows for the datasets that match."""
    rows: list[dict[str, Any]] = []
    kinds: list[str] = []
    datasets: list[str] = []
    for run in runs:
        if run.metrics is None:
            continue
        dataset = run.metrics.get("dataset")
        rows.append(
            {
                "run": run.name,
                "source": "reproduced",
                "dataset": dataset if isinstance(dataset, str) else None,
                "images": number(run.metrics.get("n_images")),
                **metric_values(run.metrics),
            }
        )
        kinds.append("reproduced")
        key = paper_dataset(dataset)
        if key and key not in datasets:
            datasets.append(key)
    for key in datasets:
        for paper in paper_rows(key):
            rows.append(
                {"run": f"{paper.run} ({paper.label})", "source": paper.source, "dataset": key}
                | {c: float("nan") if v is None else v for c, v in paper.values.items()}
                | {"images": float("nan")}
            )
            kinds.append("paper")
    columns = ["run", "source", "dataset", "images", *METRIC_COLUMNS]
    frame = pd.DataFrame(rows, columns=columns)
    formats = {c: "{:.1f}" for c in METRIC_COLUMNS} | {"images": "{:.0f}"}
    caption = (
        "Every run's panoptic, instance and semantic metrics in %, with the paper's rows "
        "(marked in the source column) for the datasets it reports."
    )
    return Table("ablation", caption, frame, tuple(kinds), formats)


def reference_run(runs: Sequence[RunData]) -> RunData | None:
    """The run the differences are taken against: the one named `combined`, else none."""
    return next((r for r in runs if r.name == REFERENCE_RUN and r.metrics is not None), None)


def _minus(a: float | None, b: float | None) -> float:
    return float("nan") if a is None or b is None else a - b


def difference_table(runs: Sequence[RunData]) -> Table | None:
    """Each other run minus `combined`, in points; the paper's own difference where it has one."""
    ref = reference_run(runs)
    if ref is None or ref.metrics is None:
        return None
    base = metric_values(ref.metrics)
    rows: list[dict[str, Any]] = []
    kinds: list[str] = []
    for run in runs:
        if run is ref or run.metrics is None:
            continue
        values = metric_values(run.metrics)
        rows.append(
            {"run": run.name, "source": "reproduced"} | {c: values[c] - base[c] for c in base}
        )
        kinds.append("reproduced")
        paper = {r.run: r for r in paper_rows(ref.metrics.get("dataset"))}
        if run.name in paper and REFERENCE_RUN in paper:
            mine, theirs = paper[run.name].values, paper[REFERENCE_RUN].values
            diffs = {c: _minus(mine[c], theirs[c]) for c in METRIC_COLUMNS}
            rows.append({"run": f"{run.name} (paper)", "source": paper[run.name].source} | diffs)
            kinds.append("paper")
    if not rows:
        return None
    frame = pd.DataFrame(rows, columns=["run", "source", *METRIC_COLUMNS])
    caption = f"Differences to `{REFERENCE_RUN}` in percentage points (run − {REFERENCE_RUN})."
    return Table(
        "differences", caption, frame, tuple(kinds), {c: "{:+.1f}" for c in METRIC_COLUMNS}
    )


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
    "Table",
    "ablation_table",
    "difference_table",
    "metric_values",
    "timing_table",
]
