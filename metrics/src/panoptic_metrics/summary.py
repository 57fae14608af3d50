"""From accumulated sums to `PanopticResults`, and back from its JSON form."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import scores
from .categories import Category, CategorySet
from .checks import results_values
from .errors import PanopticInputError
from .matching import (
    DAGGER_IOU,
    DAGGER_N,
    FN,
    FP,
    IOU_SUM,
    SUM_COLUMNS,
    TP,
    ImageStats,
    check_mode,
)
from .results import ClassResult, ImageResult, PanopticResults, Quality
from .segmentation import image_id_of


def _quality(per_class: scores.ClassScores, mask: np.ndarray, what: str) -> Quality:
    pq, n = scores.average(per_class.pq, mask, f"PQ of {what}")
    sq, _ = scores.nanmean(per_class.sq, mask)
    rq, _ = scores.nanmean(per_class.rq, mask)
    if n:  # PQ† can be undefined on its own: stuff predicted only where the gt has none
        pq_dagger, _ = scores.average(per_class.pq_dagger, mask, f"PQ† of {what}")
    else:
        pq_dagger = float(scores.nanmean(per_class.pq_dagger, mask)[0])
    return Quality(pq, float(sq), float(rq), pq_dagger, n)


def build_results(
    categories: CategorySet,
    mode: str,
    class_sums: np.ndarray,
    histogram: np.ndarray,
    images: Sequence[ImageStats],
) -> PanopticResults:
    """Results from the dataset state.

    Args:
        categories: the evaluated classes (C).
        mode: "strict" or "pixels".
        class_sums: (C, 6) sums over the dataset (columns `matching.SUM_COLUMNS`).
        histogram: (C, n_bins) int64 best-overlap IoU counts.
        images: the per-image states, in dataset order.
    """
    isthing = categories.isthing
    per_class = scores.class_scores(class_sums, isthing)
    everything = np.ones(len(categories), dtype=bool)
    classes = tuple(
        ClassResult(
            category=cat,
            pq=float(per_class.pq[c]),
            sq=float(per_class.sq[c]),
            rq=float(per_class.rq[c]),
            pq_dagger=float(per_class.pq_dagger[c]),
            tp=int(class_sums[c, TP]),
            fp=int(class_sums[c, FP]),
            fn=int(class_sums[c, FN]),
            iou_sum=float(class_sums[c, IOU_SUM]),
            dagger_n=int(class_sums[c, DAGGER_N]),
            dagger_iou_sum=float(class_sums[c, DAGGER_IOU]),
            iou_histogram=tuple(int(v) for v in histogram[c]),
        )
        for c, cat in enumerate(categories.categories)
    )
    return PanopticResults(
        overall=_quality(per_class, everything, "all classes"),
        things=_quality(per_class, isthing, "things"),
        stuff=_quality(per_class, ~isthing, "stuff"),
        per_class=classes,
        per_image=_image_results(categories, images),
        mode=check_mode(mode),
        categories=categories,
    )


def _image_results(
    categories: CategorySet, images: Sequence[ImageStats]
) -> tuple[ImageResult, ...]:
    """Per-image scores, all images at once: one row per (image, class) it touches."""
    if not images:
        return ()
    owner = np.concatenate([np.full(len(s.classes), i) for i, s in enumerate(images)])
    cls = np.concatenate([s.classes for s in images]).astype(np.int64)
    sums = np.concatenate([s.sums for s in images]).reshape(-1, len(SUM_COLUMNS))
    rows = scores.class_scores(sums, categories.isthing[cls])
    n = len(images)

    def per_image(values: np.ndarray) -> np.ndarray:
        defined = ~np.isnan(values)
        count = np.bincount(owner[defined], minlength=n)
        total = np.bincount(owner[defined], weights=values[defined], minlength=n)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    pq, sq, rq, dagger = (per_image(v) for v in (rows.pq, rows.sq, rows.rq, rows.pq_dagger))
    totals = np.stack([np.bincount(owner, weights=sums[:, k], minlength=n) for k in range(4)], 1)
    ids = categories.ids
    return tuple(
        ImageResult(
            image_id=s.image_id,
            pq=float(pq[i]),
            sq=float(sq[i]),
            rq=float(rq[i]),
            pq_dagger=float(dagger[i]),
            tp=int(totals[i, TP]),
            fp=int(totals[i, FP]),
            fn=int(totals[i, FN]),
            iou_sum=float(totals[i, IOU_SUM]),
            class_sums=tuple(
                (int(ids[c]), tuple(float(v) for v in row))
                for c, row in zip(s.classes.tolist(), s.sums, strict=True)
            ),
        )
        for i, s in enumerate(images)
    )


def results_from_json(data: Any, *, source: str) -> PanopticResults:
    """Rebuild `PanopticResults` from its JSON form (the sums; the scores are recomputed)."""
    try:
        results_values(data)
        per_class: Mapping[str, Any] = data["per_class"]
        categories = CategorySet(
            tuple(
                Category(int(cid), str(v["name"]), bool(v["isthing"]))
                for cid, v in per_class.items()
            )
        )
        class_sums = np.array(
            [
                [v["tp"], v["fp"], v["fn"], v["iou_sum"], v["pq_dagger_n"], v["pq_dagger_iou_sum"]]
                for v in per_class.values()
            ],
            dtype=np.float64,
        )
        histogram = np.array([v["iou_histogram"] for v in per_class.values()], dtype=np.int64)
        index = {c.id: k for k, c in enumerate(categories.categories)}
        images = [_image_stats(row, index) for row in data["per_image"]]
        mode = check_mode(data["mode"])
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise PanopticInputError(
            source, f"not a panoptic_metrics results file ({type(exc).__name__}: {exc})"
        ) from None
    return build_results(categories, mode, class_sums, histogram, images)


def _image_stats(row: Mapping[str, Any], index: Mapping[int, int]) -> ImageStats:
    items = sorted((index[int(cid)], values) for cid, values in row["classes"].items())
    classes = np.array([c for c, _ in items], dtype=np.int64)
    sums = np.array([v for _, v in items], dtype=np.float64).reshape(len(items), len(SUM_COLUMNS))
    empty = np.zeros(0, dtype=np.int64)
    return ImageStats(image_id_of(row["image_id"], "image_id"), classes, sums, empty, empty)
