"""The panoptic error decomposition (docs/metrics.md, "Error decomposition"): the cause of
every FN and FP (counted per class by `kernels.decompose_errors` during the matching) and
ΔPQ, how much PQ rises when an oracle fixes one cause alone, as TIDE does for AP.

The state is a (C, len(CAUSES)) count per class (per image: one row per class it touches,
beside its PQ sums), so shards merge by addition and the result does not depend on the
number of workers. Every ΔPQ is computed from those counts and PQ's own per-class sums.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import scores
from .categories import Category, CategorySet
from .image_states import as_states
from .io import json_float
from .kernels.decomposition import CAUSES, FN_CAUSES, FP_CAUSES
from .lazy import LazyRows
from .matching import FN, FP, IOU_SUM, TP, ImageStats

__all__ = [
    "AGGREGATE_FIXES",
    "CAUSES",
    "FIXES",
    "FN_CAUSES",
    "FP_CAUSES",
    "ClassErrors",
    "ErrorBreakdown",
    "ErrorDecomposition",
    "build_errors",
    "fixed_class_pq",
]

# Oracles that fix several causes at once: every FN, every FP, every matched pair's mask
# (its IoU becomes 1), and all of these (the prediction becomes the ground truth).
AGGREGATE_FIXES = ("all_fn", "all_fp", "segmentation", "everything")
FIXES = CAUSES + AGGREGATE_FIXES
_N_FN = len(FN_CAUSES)


def fixed_class_pq(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-class PQ after each oracle of `FIXES`, vectorised over leading axes.

    Args:
        sums: (..., C, 6) PQ sums (columns `matching.SUM_COLUMNS`).
        counts: (..., C, len(CAUSES)) error counts.

    Returns:
        (..., len(FIXES), C) float64: PQ_c = Σ IoU / (TP + FP/2 + FN/2) after the fix, where a
        fixed FN becomes a TP of IoU 1 and a fixed FP is removed (`segmentation`: every TP's
        IoU becomes 1); NaN where nothing is left (TP + FP + FN = 0).
    """
    tp, fp, fn, iou = (sums[..., k] for k in (TP, FP, FN, IOU_SUM))
    # (Σ IoU, TP, FP, FN) after each fix
    fixes: list[tuple[np.ndarray, ...]] = []
    for k in range(len(CAUSES)):
        n = counts[..., k]
        if k < _N_FN:
            fixes.append((iou + n, tp + n, fp, fn - n))
        else:
            fixes.append((iou, tp, fp - n, fn))
    zero = np.zeros_like(fp)
    fixes += [
        (iou + fn, tp + fn, fp, zero),  # all_fn
        (iou, tp, zero, fn),  # all_fp
        (tp, tp, fp, fn),  # segmentation
        (tp + fn, tp + fn, zero, zero),  # everything
    ]
    out = []
    for numerator, tp_, fp_, fn_ in fixes:
        with np.errstate(divide="ignore", invalid="ignore"):
            value = numerator / (tp_ + 0.5 * fp_ + 0.5 * fn_)
        out.append(np.where(tp_ + fp_ + fn_ > 0, value, np.nan))
    return np.stack(out, axis=-2)


@dataclass(frozen=True)
class ErrorBreakdown:
    """Errors of a set of classes (or of one image): the count of each cause and the ΔPQ of
    each oracle of `FIXES` (PQ after the fix minus PQ, over the same kind of mean as PQ)."""

    counts: Mapping[str, int]
    delta_pq: Mapping[str, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "counts": dict(self.counts),
            "delta_pq": {k: json_float(v) for k, v in self.delta_pq.items()},
        }


@dataclass(frozen=True, kw_only=True)
class ClassErrors(ErrorBreakdown):
    """One class's error counts and ΔPQ (PQ_c after the fix minus PQ_c)."""

    category: Category


@dataclass(frozen=True)
class ErrorDecomposition:
    """The error decomposition of an evaluation: overall, things, stuff, per class and per
    image (in the order of `PanopticResults.per_image`)."""

    overall: ErrorBreakdown
    things: ErrorBreakdown
    stuff: ErrorBreakdown
    per_class: tuple[ClassErrors, ...]
    per_image: Sequence[ErrorBreakdown]  # a tuple, or `ImageErrors` (built when read)

    def to_json(self) -> dict[str, Any]:
        """The `errors` object of docs/contracts.md §3 (per image: see `image_json`)."""
        return (
            {"causes": {"fn": list(FN_CAUSES), "fp": list(FP_CAUSES)}}
            | self.overall.to_json()
            | {
                "things": self.things.to_json(),
                "stuff": self.stuff.to_json(),
                "per_class": {str(c.category.id): c.to_json() for c in self.per_class},
            }
        )


def _counts(row: np.ndarray) -> dict[str, int]:
    return {name: int(v) for name, v in zip(CAUSES, row.tolist(), strict=True)}


def _deltas(row: np.ndarray) -> dict[str, float]:
    # NaN as the one `math.nan` object, so that equal decompositions compare equal
    values = row.tolist()  # Python floats: per-element numpy calls would dominate the build
    return {name: math.nan if math.isnan(v) else v for name, v in zip(FIXES, values, strict=True)}


def build_errors(
    categories: CategorySet,
    class_sums: np.ndarray,
    counts: np.ndarray,
    images: Sequence[ImageStats],
) -> ErrorDecomposition:
    """The decomposition from the dataset's (C, 6) PQ sums and (C, len(CAUSES)) counts and
    the per-image states (whose `errors` rows sit beside their `sums`)."""
    isthing = categories.isthing
    pq = scores.class_scores(class_sums, isthing).pq
    fixed = fixed_class_pq(class_sums, counts)  # (F, C)
    groups = []
    for mask in (np.ones(len(categories), dtype=bool), isthing, ~isthing):
        base = scores.nanmean(pq, mask)[0]
        after = scores.nanmean(fixed, mask)[0]
        groups.append(ErrorBreakdown(_counts(counts[mask].sum(axis=0)), _deltas(after - base)))
    per_class = tuple(
        ClassErrors(_counts(counts[c]), _deltas(fixed[:, c] - pq[c]), category=cat)
        for c, cat in enumerate(categories.categories)
    )
    overall, things, stuff = groups
    return ErrorDecomposition(overall, things, stuff, per_class, _image_errors(isthing, images))


def _image_errors(isthing: np.ndarray, images: Sequence[ImageStats]) -> Sequence[ErrorBreakdown]:
    """Each image's counts and ΔPQ of its own PQ (the mean over the classes it touches), all
    images at once: one row per (image, class)."""
    if not images:
        return ()
    n = len(images)
    states = as_states(images)
    owner, cls, sums = states.rows()
    counts = states.error_rows()
    pq = scores.class_scores(sums, isthing[cls]).pq
    fixed = fixed_class_pq(sums, counts)  # (F, rows)

    def per_image(values: np.ndarray) -> np.ndarray:
        defined = ~np.isnan(values)
        total = np.bincount(owner[defined], weights=values[defined], minlength=n)
        number = np.bincount(owner[defined], minlength=n)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(number > 0, total / np.maximum(number, 1), np.nan)

    base = per_image(pq)
    delta = np.stack([per_image(f) - base for f in fixed], axis=1)  # (n, F)
    totals = np.stack(
        [np.bincount(owner, weights=counts[:, k], minlength=n) for k in range(len(CAUSES))], 1
    )
    return ImageErrors(totals, delta)


class ImageErrors(LazyRows[ErrorBreakdown]):
    """`ErrorDecomposition.per_image`: each image's `ErrorBreakdown`, built when read from
    the (n, len(CAUSES)) counts and (n, len(FIXES)) ΔPQ arrays."""

    def __init__(self, totals: np.ndarray, delta: np.ndarray):
        super().__init__(len(totals))
        self.totals, self.delta = totals, delta

    def _item(self, i: int) -> ErrorBreakdown:
        return ErrorBreakdown(_counts(self.totals[i]), _deltas(self.delta[i]))


def image_json(image: ErrorBreakdown, stats: ImageStats, ids: np.ndarray) -> dict[str, Any]:
    """An image's `errors` object: its breakdown and, as the state to read back, the counts
    of each class with errors (`ids`: the category id of each dense index)."""
    classes: dict[str, list[int]] = {}
    if stats.errors.size:  # whole-array conversions: per-element numpy calls would dominate
        counts = stats.errors.astype(np.int64)
        class_ids = ids[stats.classes].tolist()
        some_errors = np.asarray(counts.any(axis=1)).tolist()
        rows = zip(class_ids, counts.tolist(), some_errors, strict=True)
        classes = {str(cid): row for cid, row, some in rows if some}
    return image.to_json() | {"classes": classes}


def counts_from_json(
    data: Mapping[str, Any], categories: CategorySet, class_sums: np.ndarray
) -> np.ndarray:
    """The (C, len(CAUSES)) counts of an `errors` object, checked to add up to FN and FP."""
    counts = np.zeros((len(categories), len(CAUSES)), np.int64)
    per_class = data["per_class"]
    for c, cat in enumerate(categories.categories):
        row = per_class[str(cat.id)]["counts"]
        counts[c] = [_count(row[name]) for name in CAUSES]
    _check_sums(counts, class_sums, "errors")
    return counts


def image_counts_from_json(
    row: Mapping[str, Any], index: Mapping[int, int], classes: np.ndarray
) -> np.ndarray:
    """The (k, len(CAUSES)) counts of an image's `errors` object, rows aligned with
    `classes` (the image's dense class indices); `index`: category id -> dense index."""
    out = np.zeros((len(classes), len(CAUSES)), np.float64)
    position = {int(c): k for k, c in enumerate(classes)}
    for cid, values in row["classes"].items():
        if not isinstance(values, list) or len(values) != len(CAUSES):
            raise ValueError(f"errors of class {cid!r}: expected {len(CAUSES)} counts")
        dense = index[int(cid)]
        if dense not in position:
            raise ValueError(f"errors of class {cid!r}, which the image's sums do not have")
        out[position[dense]] = [_count(v) for v in values]
    return out


def check_image(stats: ImageStats, source: str) -> None:
    """ValueError unless an image's counts add up to its FN and FP (naming `source`)."""
    _check_sums(stats.errors, stats.sums, source)


def _check_sums(counts: np.ndarray, sums: np.ndarray, what: str) -> None:
    if not (
        np.array_equal(counts[:, :_N_FN].sum(axis=1), sums[:, FN])
        and np.array_equal(counts[:, _N_FN:].sum(axis=1), sums[:, FP])
    ):
        raise ValueError(f"{what}: the error counts do not add up to FN and FP per class")


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise TypeError(f"expected a non-negative integer count in int64, got {value!r}")
    return value
