"""Bootstrap confidence intervals over images for PQ and PQ†, alone or as a paired difference.

Method (percentile bootstrap, Efron & Tibshirani 1993, ch. 13): draw `n_samples` resamples of
the n images with replacement from a seeded numpy Generator (PCG64); for each, add up the
per-image per-class sums of the drawn images and recompute the dataset PQ and PQ† exactly as
the real metric does (so the per-class pooling and the set of averaged classes vary as they
would on another sample of images); the interval is the (α/2, 1 − α/2) percentiles of those
values. The paired version draws each resample once and applies it to both prediction sets on
the same images, so the interval is that of the difference itself, which is much narrower
than two independent intervals when the two sets err on the same images (the paper's
"differ by ≤ 0.3 points" claims need exactly this). Same seed, same inputs: same interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import scores
from .errors import PanopticInputError
from .results import PanopticResults

_CHUNK = 250  # resamples per matrix product: bounds memory at (_CHUNK x n_images) floats


@dataclass(frozen=True)
class Interval:
    """An estimate (on all images) and its bootstrap confidence interval."""

    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class BootstrapResult:
    """Intervals for PQ and PQ† (fractions in [0, 1]; for `paired_bootstrap`, A − B).

    `p_value` (paired only, else NaN): two-sided bootstrap p-value of the PQ difference, twice
    the smaller fraction of resamples on either side of zero (capped at 1).
    """

    pq: Interval
    pq_dagger: Interval
    confidence: float
    n_samples: int
    seed: int
    n_images: int
    p_value: float = float("nan")


def _interval(estimate: float, values: np.ndarray, confidence: float) -> Interval:
    alpha = 1.0 - confidence
    values = values[~np.isnan(values)]
    if values.size == 0:
        return Interval(estimate, float("nan"), float("nan"))
    low, high = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return Interval(estimate, float(low), float(high))


def _check(n_samples: int, confidence: float, n_images: int) -> None:
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_images == 0:
        raise PanopticInputError("results", "no per-image results to resample")


def _resampled_scores(
    sums: list[np.ndarray], isthing: np.ndarray, n_samples: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(PQ, PQ†) of every resample, for each (n_images, C, 6) array of `sums`: every resample
    draws the images once (for all arrays alike) and its sums are one matrix product."""
    rng = np.random.default_rng(seed)
    n, c = sums[0].shape[:2]
    flat = [s.reshape(n, -1) for s in sums]
    out: list[tuple[list[np.ndarray], list[np.ndarray]]] = [([], []) for _ in sums]
    for start in range(0, n_samples, _CHUNK):
        size = min(_CHUNK, n_samples - start)
        counts = np.zeros((size, n))  # how often each image is drawn
        np.add.at(counts, (np.arange(size)[:, None], rng.integers(0, n, size=(size, n))), 1.0)
        for (pq, dagger), matrix in zip(out, flat, strict=True):
            per_class = scores.class_scores((counts @ matrix).reshape(-1, c, 6), isthing)
            pq.append(scores.nanmean(per_class.pq)[0])
            dagger.append(scores.nanmean(per_class.pq_dagger)[0])
    return [(np.concatenate(pq), np.concatenate(dagger)) for pq, dagger in out]


def bootstrap(
    results: PanopticResults, *, n_samples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> BootstrapResult:
    """Bootstrap intervals of PQ and PQ† over the images of `results`."""
    _check(n_samples, confidence, results.n_images)
    isthing = results.categories.isthing
    ((pq, dagger),) = _resampled_scores([results.image_sums()], isthing, n_samples, seed)
    pq_ci = _interval(results.pq, pq, confidence)
    dagger_ci = _interval(results.pq_dagger, dagger, confidence)
    return BootstrapResult(pq_ci, dagger_ci, confidence, n_samples, seed, results.n_images)


def paired_bootstrap(
    a: PanopticResults,
    b: PanopticResults,
    *,
    n_samples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> BootstrapResult:
    """Bootstrap intervals of PQ(a) − PQ(b) and PQ†(a) − PQ†(b), resampling images jointly.

    Raises:
        PanopticInputError: the two results cover different images or categories.
    """
    _check(n_samples, confidence, a.n_images)
    if a.categories != b.categories:
        raise PanopticInputError("compare", "the two results have different category sets")
    ids_a = [i.image_id for i in a.per_image]
    position = {i.image_id: k for k, i in enumerate(b.per_image)}
    if len(position) != len(ids_a) or set(position) != set(ids_a):
        raise PanopticInputError(
            "compare", "the two results are not on the same images (a paired comparison needs them)"
        )
    both = [a.image_sums(), b.image_sums()[[position[i] for i in ids_a]]]  # b in a's order
    (pq_a, dg_a), (pq_b, dg_b) = _resampled_scores(both, a.categories.isthing, n_samples, seed)
    diff = pq_a - pq_b
    diff = diff[~np.isnan(diff)]
    p_value = min(1.0, 2 * min(np.mean(diff <= 0), np.mean(diff >= 0))) if diff.size else np.nan
    pq = _interval(a.pq - b.pq, pq_a - pq_b, confidence)
    dagger = _interval(a.pq_dagger - b.pq_dagger, dg_a - dg_b, confidence)
    return BootstrapResult(pq, dagger, confidence, n_samples, seed, a.n_images, float(p_value))
