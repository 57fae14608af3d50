"""The error decomposition as a text table, and the paired bootstrap of its ΔPQ's: how much
more (or less) PQ one prediction set loses to each cause than another, with an interval.

The bootstrap is `bootstrap.paired_bootstrap`'s (same resamples for the same seed): each
resample draws the images once for both sets, adds up their per-image PQ sums and error
counts, and recomputes every ΔPQ as `decomposition.build_errors` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import scores
from .bootstrap import Interval
from .decomposition import AGGREGATE_FIXES, CAUSES, FIXES, ErrorDecomposition, fixed_class_pq
from .errors import PanopticInputError
from .results import PanopticResults

_CHUNK = 250  # resamples at a time (memory: _CHUNK x n_images)

_LABELS = {
    "fn_class": "FN class confusion",
    "fn_merged": "FN merged",
    "fn_split": "FN split",
    "fn_localisation": "FN localisation",
    "fn_missed": "FN missed",
    "fp_class": "FP class confusion",
    "fp_duplicate": "FP duplicate/split part",
    "fp_localisation": "FP localisation",
    "fp_class_localisation": "FP class + localisation",
    "fp_crowd_void": "FP on crowd or void",
    "fp_background": "FP background",
    "all_fn": "all FN",
    "all_fp": "all FP",
    "segmentation": "segmentation (IoU -> 1)",
    "everything": "everything",
}


def label(fix: str) -> str:
    """A readable name of a cause or an aggregate fix."""
    return _LABELS[fix]


def errors_of(results: PanopticResults) -> ErrorDecomposition:
    """`results.errors`, or PanopticInputError if the results have no decomposition."""
    if results.errors is None:
        raise PanopticInputError(
            "results", "no error decomposition (a results file written without `errors`)"
        )
    return results.errors


def _points(x: float, signed: bool = True) -> str:
    if math.isnan(x):
        return "-".rjust(8)
    return f"{100 * x:{'+' if signed else ''}8.2f}"


def error_table(results: PanopticResults) -> str:
    """One row per cause and aggregate fix: its count and ΔPQ (in PQ points) overall, for
    things and for stuff (docs/metrics.md, "Error decomposition")."""
    errors = errors_of(results)
    width = max(len(v) for v in _LABELS.values())
    head = (
        f"{'error (ΔPQ in points)':{width}s}|{'count':>7s}{'ΔPQ':>9s}{'ΔPQ_Th':>9s}{'ΔPQ_St':>9s}"
    )
    lines = [head, "-" * len(head)]
    for fix in FIXES:
        if fix == AGGREGATE_FIXES[0]:
            lines.append("-" * len(head))
        count = str(errors.overall.counts[fix]) if fix in CAUSES else ""
        values = "".join(
            " " + _points(part.delta_pq[fix])
            for part in (errors.overall, errors.things, errors.stuff)
        )
        lines.append(f"{label(fix):{width}s}|{count:>7s}{values}")
    lines.append(f"PQ {100 * results.pq:.2f}: fixing everything gives 100")
    return "\n".join(lines)


@dataclass(frozen=True)
class ErrorComparison:
    """ΔPQ of each fix for two prediction sets on the same images, and the paired bootstrap
    interval of their difference (`difference[fix].estimate` = a − b)."""

    a: dict[str, float]
    b: dict[str, float]
    difference: dict[str, Interval]
    confidence: float
    n_samples: int
    seed: int


def _image_arrays(results: PanopticResults) -> tuple[np.ndarray, np.ndarray]:
    """(n_images, C, 6) PQ sums and (n_images, C, K) error counts of every image."""
    errors_of(results)
    counts = np.zeros((results.n_images, len(results.categories), len(CAUSES)))
    for i, image in enumerate(results.per_image):
        if image.stats.errors.shape[0] == len(image.stats.classes):
            counts[i, image.stats.classes] = image.stats.errors
    return results.image_sums(), counts


def _overall_deltas(sums: np.ndarray, counts: np.ndarray, isthing: np.ndarray) -> np.ndarray:
    """(S, F) overall ΔPQ of each fix from (S, C, 6) sums and (S, C, K) counts."""
    pq = scores.class_scores(sums, isthing).pq  # (S, C)
    fixed = fixed_class_pq(sums, counts)  # (S, F, C)
    base = scores.nanmean(pq)[0]  # (S,)
    deltas: np.ndarray = scores.nanmean(fixed)[0] - base[:, None]
    return deltas


def compare_errors(
    a: PanopticResults,
    b: PanopticResults,
    *,
    n_samples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> ErrorComparison:
    """ΔPQ per fix of `a` and `b` and the paired bootstrap interval of each a − b.

    Raises:
        PanopticInputError: different images or categories, or results without `errors`.
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if a.categories != b.categories:
        raise PanopticInputError("compare", "the two results have different category sets")
    ids = [i.image_id for i in a.per_image]
    position = {i.image_id: k for k, i in enumerate(b.per_image)}
    if not ids or len(position) != len(ids) or set(position) != set(ids):
        raise PanopticInputError(
            "compare", "the two results are not on the same images (a paired comparison needs them)"
        )
    sums_a, counts_a = _image_arrays(a)
    sums_b, counts_b = _image_arrays(b)
    order = [position[i] for i in ids]
    sums_b, counts_b = sums_b[order], counts_b[order]
    isthing = a.categories.isthing
    rng = np.random.default_rng(seed)
    n, c = sums_a.shape[:2]
    diffs = []
    flat = [x.reshape(n, -1) for x in (sums_a, counts_a, sums_b, counts_b)]
    for start in range(0, n_samples, _CHUNK):
        size = min(_CHUNK, n_samples - start)
        drawn = np.zeros((size, n))  # how often each image is drawn (as bootstrap.py draws)
        np.add.at(drawn, (np.arange(size)[:, None], rng.integers(0, n, size=(size, n))), 1.0)
        sa, ca, sb, cb = (drawn @ m for m in flat)
        da = _overall_deltas(sa.reshape(size, c, -1), ca.reshape(size, c, -1), isthing)
        db = _overall_deltas(sb.reshape(size, c, -1), cb.reshape(size, c, -1), isthing)
        diffs.append(da - db)
    diff = np.concatenate(diffs)  # (n_samples, F)
    ea, eb = errors_of(a).overall.delta_pq, errors_of(b).overall.delta_pq
    alpha = 1.0 - confidence
    out: dict[str, Interval] = {}
    for k, fix in enumerate(FIXES):
        values = diff[:, k][~np.isnan(diff[:, k])]
        estimate = ea[fix] - eb[fix]
        if values.size == 0:
            out[fix] = Interval(estimate, math.nan, math.nan)
            continue
        low, high = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
        out[fix] = Interval(estimate, float(low), float(high))
    return ErrorComparison(dict(ea), dict(eb), out, confidence, n_samples, seed)


def comparison_error_table(name_a: str, name_b: str, comparison: ErrorComparison) -> str:
    """ΔPQ per fix of two sets side by side and their difference with its interval."""
    width = max(len(v) for v in _LABELS.values())
    level = f"{100 * comparison.confidence:g}% CI"
    head = f"{'ΔPQ (points)':{width}s}|{'A':>8s} {'B':>8s} {'A - B':>8s}  {level}"
    lines = [f"A: {name_a}", f"B: {name_b}", head, "-" * (len(head) + 8)]
    for fix in FIXES:
        d = comparison.difference[fix]
        lines.append(
            f"{label(fix):{width}s}|{_points(comparison.a[fix], False)} "
            f"{_points(comparison.b[fix], False)} {_points(d.estimate)}  "
            f"[{_points(d.low).strip()}, {_points(d.high).strip()}]"
        )
    return "\n".join(lines)
