"""PQ along the way (each run's curve.jsonl): the plot of PQ against the iteration, and whether
a run has reached its plateau or is still improving.

The rule: a run is at its plateau when its last evaluation gained less than one PQ point over
the one before (`PLATEAU_GAIN`); otherwise it is still improving, and a difference between it
and another run may still change with more training. The curve's points are evaluations of a
fixed subset of the val split during training (benchmark.experiment.CurveConfig), so they
compare with each other, not with metrics.json's PQ over the whole split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .figures import Plot, new_figure, render, run_colour, style_axes
from .runs import RunData, number

PLATEAU_GAIN = 0.01  # one PQ point (PQ as a fraction)
State = Literal["plateau", "improving", "unknown"]


@dataclass(frozen=True)
class Convergence:
    """Where a run's curve ends: its state, the last evaluation's PQ gain over the one before
    (a fraction; None with fewer than two points) and the iteration of the last evaluation."""

    state: State
    gain: float | None = None
    iteration: int | None = None

    def describe(self) -> str:
        """A few words for the cards and tables, e.g. `at its plateau (+0.4 PQ at 500)`."""
        if self.state == "unknown" or self.gain is None:
            return "convergence unknown (no PQ curve)"
        words = "at its plateau" if self.state == "plateau" else "still improving"
        points = f"{100 * self.gain:+.1f}".replace("-", "−")
        return f"{words} ({points} PQ at {self.iteration})"


def pq_series(run: RunData) -> tuple[np.ndarray, np.ndarray]:
    """(iterations, PQ) of the run's curve.jsonl, by iteration; entries without a finite PQ
    are left out."""
    points = {}
    for entry in run.curve:
        it, pq = number(entry.get("iteration")), number(entry.get("pq"))
        if it is not None and pq is not None:
            points[int(it)] = pq
    its = sorted(points)
    return np.asarray(its, dtype=np.int64), np.asarray([points[i] for i in its], dtype=float)


def plateau_state(pq: Sequence[float] | np.ndarray) -> State:
    """`plateau` when the last value gained less than `PLATEAU_GAIN` over the one before,
    `improving` otherwise, `unknown` with fewer than two values."""
    if len(pq) < 2:
        return "unknown"
    return "plateau" if float(pq[-1]) - float(pq[-2]) < PLATEAU_GAIN else "improving"


def convergence(run: RunData) -> Convergence:
    """The run's state by the plateau rule, from its curve.jsonl."""
    its, pq = pq_series(run)
    state = plateau_state(pq)
    if state == "unknown":
        return Convergence("unknown")
    return Convergence(state, float(pq[-1] - pq[-2]), int(its[-1]))


def pq_curve_plot(runs: Sequence[RunData]) -> Plot | None:
    """PQ (%) against the iteration, one line per run with a curve; None when none has."""
    drawn = [(i, run) for i, run in enumerate(runs) if len(pq_series(run)[0])]
    if not drawn:
        return None
    fig = new_figure(6.4, 3.6)
    ax = fig.subplots()
    for i, run in drawn:
        its, pq = pq_series(run)
        label = f"{run.name}: {convergence(run).describe()}"
        ax.plot(its, 100 * pq, marker="o", color=run_colour(i), linewidth=1.5, label=label)
    ax.set_xlabel("iteration", fontsize=9)
    ax.set_ylabel("PQ (%)", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    style_axes(ax)
    subsets = sorted({str(e.get("images")) for _, r in drawn for e in r.curve if "images" in e})
    on = f" on {' / '.join(subsets)} val images" if subsets else ""
    caption = (
        f"PQ along the way: each run evaluated during training{on} (curve.jsonl). A run whose "
        f"last evaluation gained less than {100 * PLATEAU_GAIN:g} PQ point over the one before "
        "is at its plateau; otherwise it is still improving."
    )
    return render(fig, "pq_curve", caption)
