"""The page's "At a glance" cards: the answers to the paper's questions in a few numbers.

Does the combined model match the independent ones (each run's PQ with its interval, and the
paired difference to `combined`), at what fraction of the cost (parameters and multiply-adds,
independent / combined, beside the paper's ratio: our network in the paper's configuration
when a cost file has it, else the runs' models), and where do PQ and PQ† disagree most
(the largest per-class gap of panoptic_metrics' `analysis.dagger_gaps`)? Each run's card and
each difference say whether the runs are at their plateau (`convergence.py`): a difference
between runs that are still improving may change with more training.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from panoptic_metrics.analysis import dagger_gaps
from panoptic_metrics.bootstrap import BootstrapResult, Interval

from .convergence import convergence
from .cost import CostFigures, ratio
from .figures import run_colour
from .intervals import REFERENCE_RUN, Intervals
from .paper import PAPER_COST, PAPER_COST_SIZE
from .runs import RunData
from .seeds import difference_spread, run_spread


@dataclass(frozen=True)
class Card:
    """One card: a title, a big value, lines of detail, and the colour of its run (if any)."""

    title: str
    value: str
    details: tuple[str, ...] = ()
    colour: str = ""


def _pct(value: float | None, sign: str = "") -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{100 * value:{sign}.1f}".replace("-", "−")


def _bounds(interval: Interval, confidence: float, sign: str = "") -> str:
    if math.isnan(interval.low):
        return ""
    low, high = _pct(interval.low, sign), _pct(interval.high, sign)
    return f"{100 * confidence:g}% CI {low} to {high}"


def run_cards(runs: Sequence[RunData], intervals: Intervals) -> list[Card]:
    """Per run with metrics: PQ (%), PQ†, and the interval of PQ."""
    cards = []
    for i, run in enumerate(runs):
        if run.results is None:
            continue
        details = [f"PQ % · PQ† {_pct(run.results.pq_dagger)}"]
        boot = intervals.per_run.get(run.name)
        if boot is not None:
            details.append(_bounds(boot.pq, boot.confidence))
        seeds = run_spread(run)
        if seeds is not None:  # beside the interval over images: another training's PQ
            details.append(f"PQ {seeds.describe()}")
        details.append(convergence(run).describe())
        cards.append(Card(run.name, _pct(run.results.pq), tuple(details), run_colour(i)))
    return cards


def _difference_card(
    name: str, diff: BootstrapResult, colour: str, states: tuple[str, ...] = ()
) -> Card:
    dagger = _pct(diff.pq_dagger.estimate, "+")
    details = (
        f"PQ points; {_bounds(diff.pq, diff.confidence, '+')}",
        f"PQ† {dagger} ({_bounds(diff.pq_dagger, diff.confidence, '+')})",
        *states,
    )
    return Card(f"{name} − {REFERENCE_RUN}", _pct(diff.pq.estimate, "+"), details, colour)


def convergence_of_pair(runs: Sequence[RunData], name: str) -> tuple[str, ...]:
    """`<run>: <state>` of the run `name` and of `combined`, in that order."""
    by_name = {run.name: run for run in runs}
    return tuple(
        f"{n}: {convergence(by_name[n]).describe()}" for n in (name, REFERENCE_RUN) if n in by_name
    )


def _seed_line(runs: Sequence[RunData], run: RunData) -> tuple[str, ...]:
    reference = next((r for r in runs if r.name == REFERENCE_RUN), None)
    seeds = None if reference is None else difference_spread(run, reference)
    return () if seeds is None else (f"PQ difference {seeds.describe()}",)


def difference_cards(runs: Sequence[RunData], intervals: Intervals) -> list[Card]:
    """Per run compared with `combined`: the PQ difference, its paired interval, its spread
    over seeds (runs repeated with --seeds) and whether both runs are at their plateau."""
    return [
        _difference_card(
            run.name,
            intervals.paired[run.name],
            run_colour(i),
            _seed_line(runs, run) + convergence_of_pair(runs, run.name),
        )
        for i, run in enumerate(runs)
        if run.name in intervals.paired
    ]


COST_CARDS = (("params", "parameters", 1e6, "M"), ("dense_conv_macs", "dense-conv MACs", 1e12, "T"))


def _amounts(forms: Mapping[str, Mapping[str, float]], key: str, scale: float, unit: str) -> str:
    a, b = forms["independent"][key] / scale, forms["combined"][key] / scale
    digits = 2 if unit == "M" else 3
    return f"{a:.{digits}f} / {b:.{digits}f} {unit}"


def cost_cards(cost: CostFigures) -> list[Card]:
    """Parameters and dense-conv multiply-adds, independent / combined, beside the paper's
    ratio; the card says where the figures come from (`cost.glance_cost` chose them)."""
    h, w = PAPER_COST_SIZE
    if cost.paper_setting:  # counted at the paper's preset and size: say it once
        ours, at = f"ours, {cost.preset} {h}×{w}", ""
    else:
        ours = f"the runs' models ({cost.setting})" if cost.setting else "the runs' models"
        at = f" at {h}×{w}"
    cards = []
    for key, label, scale, unit in COST_CARDS:
        mine, paper = ratio(cost.forms, key), ratio(PAPER_COST, key)
        if mine is None or paper is None:
            continue
        details = (
            "independent / combined",
            f"{ours}: {_amounts(cost.forms, key, scale, unit)}",
            f"paper: {paper:.3f}× ({_amounts(PAPER_COST, key, scale, unit)}{at})",
        )
        cards.append(Card(label, f"{mine:.3f}×", details))
    return cards


def gap_card(runs: Sequence[RunData]) -> list[Card]:
    """The class where PQ and PQ† differ most, over every run (none without results)."""
    best: tuple[float, str, str, float, float] | None = None
    for run in runs:
        for gap in dagger_gaps(run.results) if run.results is not None else ():
            if not math.isnan(gap.gap) and (best is None or abs(gap.gap) > abs(best[0])):
                best = (gap.gap, gap.category.name, run.name, gap.pq, gap.pq_dagger)
    if best is None or best[0] == 0:
        return []
    value, name, where, pq, dagger = best
    detail = f"{_pct(value, '+')} points in {where} (PQ {_pct(pq)}, PQ† {_pct(dagger)})"
    return [Card("PQ − PQ† differ most on", name, (detail,))]


def glance_cards(runs: Sequence[RunData], intervals: Intervals, cost: CostFigures) -> list[Card]:
    """Every card, in reading order; `cost`: the figures of the cost cards."""
    return (
        run_cards(runs, intervals)
        + difference_cards(runs, intervals)
        + cost_cards(cost)
        + gap_card(runs)
    )
