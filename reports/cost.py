"""Compute cost of `independent` vs `combined` next to the paper's §5.4 figures.

`benchmark.compute_cost` writes, per model form, `params`, `dense_conv_macs` (the paper's FLOP
convention: multiply-adds of the dense convolutions of body, FPN, RPN head and semantic head),
`roi_macs_per_detection` and `fvcore_flops`. A run's cost.json holds either both forms
(`{"combined": {...}, "independent": {...}}`, plus optional `preset`, `height`, `width`) or the
figures of its own form at the top level.

Two sources reach the page: the runs' own cost.json files, merged (`gather_cost`: the model
the runs trained, at their test size), and cost files that belong to no run (`read_cost_file`:
`python -m benchmark.compute_cost --preset paper-cityscapes --height 1024 --width 2048
--output F`, our network in the paper's configuration, counted the paper's way, with the
notes that explain the differences). Each becomes its own table (`cost_table`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .paper import PAPER_COST, PAPER_COST_PRESET, PAPER_COST_SIZE
from .runs import RunData, number, read_json
from .tables import Table

FORMS = ("combined", "independent")
# (cost.json key, row label, divisor, format): the paper counts parameters in M and FLOPs
# (multiply-adds) in T at 1024x2048.
FIGURES: tuple[tuple[str, str, float, str], ...] = (
    ("params", "parameters (M)", 1e6, "{:.2f}"),
    ("dense_conv_macs", "dense-conv multiply-adds (T)", 1e12, "{:.3f}"),
    ("roi_macs_per_detection", "ROI-head multiply-adds per detection (G)", 1e9, "{:.3f}"),
    ("fvcore_flops", "fvcore FLOPs, whole model (T)", 1e12, "{:.3f}"),
)


@dataclass(frozen=True)
class CostFigures:
    """Cost figures per form, the setting they were counted at, notes and problems.

    `forms`: per form the figures of `FIGURES` it has. `setting`: "preset P, H×W" (several
    joined by "; " when the runs disagree), "" when not recorded. `preset` and `size` are set
    when there is one setting. `notes`: the explanations of the cost file (compute_cost's
    `notes`); `source`: where the figures come from (a file, or "" for the runs' cost.json).
    """

    forms: dict[str, dict[str, float]]
    setting: str
    notices: tuple[str, ...]
    preset: str | None = None
    size: tuple[int, int] | None = None
    notes: tuple[str, ...] = ()
    source: str = ""

    @property
    def paper_setting(self) -> bool:
        """Whether the figures were counted in the paper's configuration (preset and size)."""
        return self.preset == PAPER_COST_PRESET and self.size == PAPER_COST_SIZE

    def complete(self, key: str) -> bool:
        """Whether both forms have the figure `key` (so their ratio can be taken)."""
        return all(key in self.forms.get(form, {}) for form in FORMS)


def _figures(block: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for key, *_ in FIGURES:
        value = number(block.get(key))
        if value is not None:
            out[key] = value
    return out


def _preset_and_size(cost: Mapping[str, Any]) -> tuple[str | None, tuple[int, int] | None]:
    preset = cost.get("preset") if isinstance(cost.get("preset"), str) else None
    h, w = number(cost.get("height")), number(cost.get("width"))
    size = (int(h), int(w)) if h is not None and w is not None and h > 0 and w > 0 else None
    return preset, size


def _setting(cost: Mapping[str, Any]) -> str:
    preset, size = _preset_and_size(cost)
    parts = [f"preset {preset}"] if preset else []
    if size:
        parts.append(f"{size[0]}×{size[1]}")
    return ", ".join(parts)


def gather_cost(runs: Sequence[RunData]) -> CostFigures:
    """Merge the runs' cost.json files; the first run giving a figure wins, others must agree."""
    forms: dict[str, dict[str, float]] = {}
    settings: dict[str, tuple[str | None, tuple[int, int] | None]] = {}
    notices: list[str] = []
    for run in runs:
        cost = run.cost
        if cost is None:
            continue
        blocks = {f: cost[f] for f in FORMS if isinstance(cost.get(f), Mapping)}
        if not blocks and _figures(cost):
            blocks = {run.form: cost}
        if not blocks:
            notices.append(f"{run.name}/cost.json holds no cost figures of {' or '.join(FORMS)}")
        for form, block in blocks.items():
            have = forms.setdefault(form, {})
            for key, value in _figures(block).items():
                if key in have and not _close(have[key], value):
                    notices.append(
                        f"{run.name}/cost.json: {form} {key} = {value:g} differs from "
                        f"{have[key]:g} given by an earlier run"
                    )
                have.setdefault(key, value)
        setting = _setting(cost)
        if setting:
            settings.setdefault(setting, _preset_and_size(cost))
    preset, size = next(iter(settings.values())) if len(settings) == 1 else (None, None)
    return CostFigures(forms, "; ".join(settings), tuple(notices), preset, size)


def read_cost_file(path: str | Path) -> CostFigures:
    """A cost file that is no run's (compute_cost's JSON); never raises: a missing, unreadable
    or malformed file gives figures with nothing in them and a notice naming the file."""
    path = Path(path)
    problems: list[str] = []
    data = read_json(path, problems)
    notices = [f"cost file {p}" for p in problems]
    if data is None:
        return CostFigures({}, "", tuple(notices), source=str(path))
    forms = {f: _figures(data[f]) for f in FORMS if isinstance(data.get(f), Mapping)}
    forms = {f: figures for f, figures in forms.items() if figures}
    if not forms:
        notices.append(f"cost file {path} holds no cost figures of {' or '.join(FORMS)}")
    raw_notes = data.get("notes", [])
    notes = tuple(n for n in raw_notes if isinstance(n, str)) if isinstance(raw_notes, list) else ()
    if not isinstance(raw_notes, list) or len(notes) != len(raw_notes):
        notices.append(
            f"cost file {path}: `notes` should be a list of strings; left out what is not"
        )
    preset, size = _preset_and_size(data)
    return CostFigures(forms, _setting(data), tuple(notices), preset, size, notes, str(path))


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)


def ratio(forms: Mapping[str, Mapping[str, float]], key: str) -> float | None:
    """independent / combined of a figure, None unless both forms have it."""
    a, b = forms.get("independent", {}).get(key), forms.get("combined", {}).get(key)
    return a / b if a is not None and b else None


def glance_cost(runs_cost: CostFigures, files: Sequence[CostFigures]) -> CostFigures:
    """The figures the page's cards use: the first cost file counted in the paper's
    configuration with both forms' parameters and MACs, else the runs' own."""
    for cost in files:
        if cost.paper_setting and cost.complete("params") and cost.complete("dense_conv_macs"):
            return cost
    return runs_cost


def _difference(mine: float | None, paper: float | None) -> str | None:
    if mine is None or not paper:
        return None
    return f"{100 * (mine / paper - 1):+.2f}%".replace("-", "−")


def _amount(value: float | None, scale: float, spec: str) -> str | None:
    """`value / scale` in the row's format; three significant digits below 0.1 (a small
    model's T of multiply-adds would read 0.001 in the paper's format)."""
    if value is None:
        return None
    scaled = value / scale
    return spec.format(scaled) if abs(scaled) >= 0.1 or scaled == 0 else f"{scaled:#.3g}"


def _rows(cost: CostFigures, differences: bool) -> list[dict[str, Any]]:
    rows = []
    for key, label, scale, spec in FIGURES:
        row: dict[str, Any] = {"figure": label}
        for form in FORMS:
            mine = cost.forms.get(form, {}).get(key)
            paper = PAPER_COST[form].get(key)
            row[f"{form}"] = _amount(mine, scale, spec)
            row[f"{form} (paper)"] = _amount(paper, scale, spec)
            if differences:
                row[f"{form} vs paper"] = _difference(mine, paper)
        for label_suffix, forms in (("", cost.forms), (" (paper)", PAPER_COST)):
            times = ratio(forms, key)
            row[f"ratio{label_suffix}"] = None if times is None else f"{times:.3f}×"
        rows.append(row)
    return rows


def table_name(cost: CostFigures, taken: Sequence[str] = ()) -> str:
    """A file-safe, unused table name for a cost file: `cost-<preset>-<h>x<w>` (`cost-file`
    without a setting), numbered when taken."""
    label = "-".join(x for x in (cost.preset, "x".join(map(str, cost.size or ()))) if x)
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:60] or "file"
    name, k = f"cost-{slug}", 2
    while name in taken or name == "cost":
        name, k = f"cost-{slug}-{k}", k + 1
    return name


def _title_and_caption(cost: CostFigures, runs: bool) -> tuple[str, str]:
    h, w = PAPER_COST_SIZE
    paper = (
        f"beside the paper's §5.4 figures at {h}×{w}. The paper states ≈ 51.8% more parameters "
        "and ≈ 50.4% more FLOPs for the independent models; its absolute FLOPs (0.864 / 0.514 "
        "T) give 68.1% more."
    )
    at = cost.setting or "a setting not recorded"
    if runs:
        title = f"The runs' models ({cost.setting})" if cost.setting else "The runs' models"
        return title, f"The runs' cost.json (measured at {at}) {paper}"
    source = Path(cost.source).name
    if not cost.paper_setting:
        return f"Our network at {at}", f"{source}: benchmark.compute_cost at {at}, {paper}"
    caption = (
        f"{source}: benchmark.compute_cost's count of our network at {at}, the paper's way "
        "(multiply-adds of the dense convolutions of body, FPN, RPN head and semantic head; "
        f"the ROI head per detection apart), {paper} Δ: ours relative to the paper's figure."
    )
    return f"Our network in the paper's configuration ({cost.preset}, {h}×{w})", caption


def _header(frame: pd.DataFrame, ours: str) -> tuple[dict[str, str], tuple[tuple[str, int], ...]]:
    """Short headings under a row of groups: per form ours / paper (/ Δ), then the ratio."""
    labels = {"ratio": ours, "ratio (paper)": "paper"}
    groups: list[tuple[str, int]] = [("", 1)]
    for form in FORMS:
        labels |= {form: ours, f"{form} (paper)": "paper", f"{form} vs paper": "Δ"}
        groups.append((form, sum(c.startswith(form) for c in frame.columns)))
    return labels, (*groups, ("independent / combined", 2))


def cost_table(cost: CostFigures, name: str = "cost") -> Table | None:
    """Rows: the figures; columns: ours and the paper's per form (with our difference to the
    paper when counted in its configuration), and the ratio independent / combined of both.

    `name` "cost" is the runs' table; any other name a cost file's (`read_cost_file`)."""
    if not cost.forms:
        return None
    frame = pd.DataFrame(_rows(cost, differences=cost.paper_setting))
    title, caption = _title_and_caption(cost, runs=name == "cost")
    labels, groups = _header(frame, "runs" if name == "cost" else "ours")
    rows = ("reproduced",) * len(frame)
    return Table(
        name, caption, frame, rows, {}, title=title, notes=cost.notes, labels=labels, groups=groups
    )
