"""Compute cost of `independent` vs `combined`: the runs' cost.json next to the paper's §5.4.

`benchmark.compute_cost` writes, per model form, `params`, `dense_conv_macs` (the paper's FLOP
convention: multiply-adds of the dense convolutions of body, FPN, RPN head and semantic head),
`roi_macs_per_detection` and `fvcore_flops`. A run's cost.json holds either both forms
(`{"combined": {...}, "independent": {...}}`, plus optional `preset`, `height`, `width`) or the
figures of its own form at the top level.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .paper import PAPER_COST, PAPER_COST_SIZE
from .runs import RunData, number
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
    """The merged cost figures per form, the setting they were measured at, and conflicts."""

    forms: dict[str, dict[str, float]]
    setting: str
    notices: tuple[str, ...]


def _figures(block: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for key, *_ in FIGURES:
        value = number(block.get(key))
        if value is not None:
            out[key] = value
    return out


def _setting(cost: Mapping[str, Any]) -> str:
    parts = []
    if isinstance(cost.get("preset"), str):
        parts.append(f"preset {cost['preset']}")
    h, w = number(cost.get("height")), number(cost.get("width"))
    if h is not None and w is not None:
        parts.append(f"{h:.0f}×{w:.0f}")
    return ", ".join(parts)


def gather_cost(runs: Sequence[RunData]) -> CostFigures:
    """Merge the runs' cost.json files; the first run giving a figure wins, others must agree."""
    forms: dict[str, dict[str, float]] = {}
    settings: list[str] = []
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
        if setting and setting not in settings:
            settings.append(setting)
    return CostFigures(forms, "; ".join(settings), tuple(notices))


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)


def ratio(forms: Mapping[str, Mapping[str, float]], key: str) -> float | None:
    """independent / combined of a figure, None unless both forms have it."""
    a, b = forms.get("independent", {}).get(key), forms.get("combined", {}).get(key)
    return a / b if a is not None and b else None


def cost_table(cost: CostFigures) -> Table | None:
    """Rows: the figures; columns: reproduced and paper per form, and the ratio
    independent / combined of both."""
    if not cost.forms:
        return None
    rows = []
    for key, label, scale, spec in FIGURES:
        row: dict[str, Any] = {"figure": label}
        for form in FORMS:
            mine = cost.forms.get(form, {}).get(key)
            paper = PAPER_COST[form].get(key)
            row[f"{form}"] = None if mine is None else spec.format(mine / scale)
            row[f"{form} (paper)"] = None if paper is None else spec.format(paper / scale)
        for label_suffix, forms in (("", cost.forms), (" (paper)", PAPER_COST)):
            times = ratio(forms, key)
            row[f"ratio{label_suffix}"] = None if times is None else f"{times:.3f}×"
        rows.append(row)
    frame = pd.DataFrame(rows)
    h, w = PAPER_COST_SIZE
    measured = f"measured at {cost.setting}" if cost.setting else "measured setting not recorded"
    caption = (
        f"cost.json ({measured}) beside the paper's §5.4 figures at {h}×{w}; ratio = "
        "independent / combined. The paper states "
        "≈ 51.8% more parameters and ≈ 50.4% more FLOPs for the independent models; its "
        "absolute FLOPs (0.864 / 0.514 T) give 68.1% more."
    )
    return Table("cost", caption, frame, ("reproduced",) * len(rows), {})
