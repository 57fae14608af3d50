"""The spread over seeds of a run repeated with `benchmark.runs --seeds N`: beside the bootstrap
interval over images (what the same model would score on other images), the spread over
seeds says what another training of the same run would score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .runs import RunData


@dataclass(frozen=True)
class Spread:
    """Mean, sample standard deviation and range of a value over `n` seeds (fractions)."""

    n: int
    mean: float
    sd: float
    low: float
    high: float

    def describe(self) -> str:
        """e.g. `over 3 seeds: 47.4 ± 0.8 (46.5 to 48.3)`, in points, signed for differences."""

        def pct(value: float, sign: str = "") -> str:
            return f"{100 * value:{sign}.1f}".replace("-", "−")

        sign = "+" if self.low < 0 or self.high < 0 else ""
        return (
            f"over {self.n} seeds: {pct(self.mean, sign)} ± {pct(self.sd)} "
            f"({pct(self.low, sign)} to {pct(self.high, sign)})"
        )


def spread(values: Sequence[float]) -> Spread | None:
    """The spread of the finite `values`; None with fewer than two."""
    kept = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    if len(kept) < 2:
        return None
    return Spread(
        len(kept), float(kept.mean()), float(kept.std(ddof=1)), float(kept.min()), float(kept.max())
    )


def run_spread(run: RunData) -> Spread | None:
    """PQ over the run's seeds (None when it was trained with one)."""
    return spread([s.pq for s in run.seeds])


def difference_spread(run: RunData, reference: RunData) -> Spread | None:
    """PQ of `run` minus PQ of `reference` over the seeds both have (paired by seed)."""
    theirs = {s.seed: s.pq for s in reference.seeds}
    return spread([s.pq - theirs[s.seed] for s in run.seeds if s.seed in theirs])
