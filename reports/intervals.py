"""Bootstrap confidence intervals of PQ and PQ†: per run, and paired differences to `combined`.

Computed by panoptic_metrics' `bootstrap.bootstrap` and `bootstrap.paired_bootstrap` from the
per-image per-class sums that every metrics.json carries (`per_image[i].classes`), so the
report adds no statistics of its own: percentile intervals over images resampled with
replacement, seeded, and for a difference the same resamples applied to both runs.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

from panoptic_metrics.bootstrap import BootstrapResult, bootstrap, paired_bootstrap

from .runs import RunData

log = logging.getLogger(__name__)
REFERENCE_RUN = "combined"


@dataclass(frozen=True)
class BootstrapSettings:
    """How the intervals are drawn (panoptic_metrics' defaults: 1000 resamples, 95%)."""

    n_samples: int = 1000
    seed: int = 0
    confidence: float = 0.95

    def describe(self) -> str:
        """In words, for captions."""
        return (
            f"{100 * self.confidence:g}% percentile bootstrap over images "
            f"({self.n_samples} resamples, seed {self.seed})"
        )


@dataclass(frozen=True)
class Intervals:
    """Per run name: its own intervals, and (other runs) its paired difference to `combined`."""

    settings: BootstrapSettings
    per_run: dict[str, BootstrapResult] = field(default_factory=dict)
    paired: dict[str, BootstrapResult] = field(default_factory=dict)
    notices: tuple[str, ...] = ()


def reference_run(runs: Sequence[RunData]) -> RunData | None:
    """The run the differences are taken against: the one named `combined` with metrics."""
    return next((r for r in runs if r.name == REFERENCE_RUN and r.metrics is not None), None)


def bootstrap_runs(runs: Sequence[RunData], settings: BootstrapSettings) -> Intervals:
    """Every run's intervals and every other run's paired difference to `combined`."""
    draw = {"n_samples": settings.n_samples, "seed": settings.seed}
    per_run: dict[str, BootstrapResult] = {}
    paired: dict[str, BootstrapResult] = {}
    notices: list[str] = []
    ref = reference_run(runs)
    with warnings.catch_warnings():  # undefined means are NaN, shown as dashes
        warnings.simplefilter("ignore", RuntimeWarning)
        for run in runs:
            if run.results is None or run.results.n_images == 0:
                continue
            per_run[run.name] = bootstrap(run.results, confidence=settings.confidence, **draw)
            if ref is None or ref is run or ref.results is None:
                continue
            try:
                paired[run.name] = paired_bootstrap(
                    run.results, ref.results, confidence=settings.confidence, **draw
                )
            except ValueError as err:  # PanopticInputError: other images or categories
                notices.append(f"{run.name} − {ref.name}: no paired interval: {err}")
    log.info("bootstrap: %d runs, %d paired differences", len(per_run), len(paired))
    return Intervals(settings, per_run, paired, tuple(notices))
