"""The results of an evaluation: a frozen dataclass, its JSON form and its DataFrames.

`to_json()` writes exactly the top-level keys of docs/contracts.md §3 (`pq, sq, rq,
pq_dagger, things, stuff, per_class, per_image, mode, n_images`); the raw sums needed to
rebuild everything (and to bootstrap) ride inside `per_class` and `per_image`, so
`from_json(to_json())` recomputes the same results.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .categories import Category, CategorySet
from .io import json_float, write_json_atomic
from .matching import SUM_COLUMNS, Mode
from .segmentation import ImageId


@dataclass(frozen=True)
class Quality:
    """PQ, SQ, RQ and PQ† averaged over a set of classes; `n` classes entered the PQ mean."""

    pq: float
    sq: float
    rq: float
    pq_dagger: float
    n: int


@dataclass(frozen=True)
class ClassResult:
    """One class over the dataset: its scores and the raw sums behind them."""

    category: Category
    pq: float
    sq: float
    rq: float
    pq_dagger: float
    tp: int
    fp: int
    fn: int
    iou_sum: float
    dagger_n: int  # |S_c|: images whose gt has this stuff class (0 for things)
    dagger_iou_sum: float  # Σ IoU of the matched stuff pairs (0 for things)
    iou_histogram: tuple[int, ...]  # best-overlap IoU of every non-crowd gt segment


@dataclass(frozen=True)
class ImageResult:
    """One image: its own PQ/PQ† (over the classes it touches) and its per-class sums."""

    image_id: ImageId | None
    pq: float
    sq: float
    rq: float
    pq_dagger: float
    tp: int
    fp: int
    fn: int
    iou_sum: float
    class_sums: tuple[tuple[int, tuple[float, ...]], ...]  # (category id, SUM_COLUMNS values)


@dataclass(frozen=True)
class PanopticResults:
    """PQ, SQ, RQ and PQ† overall, for things and stuff, per class and per image."""

    overall: Quality
    things: Quality
    stuff: Quality
    per_class: tuple[ClassResult, ...]
    per_image: tuple[ImageResult, ...]
    mode: Mode
    categories: CategorySet

    @property
    def pq(self) -> float:
        return self.overall.pq

    @property
    def sq(self) -> float:
        return self.overall.sq

    @property
    def rq(self) -> float:
        return self.overall.rq

    @property
    def pq_dagger(self) -> float:
        return self.overall.pq_dagger

    @property
    def n_images(self) -> int:
        return len(self.per_image)

    def image_sums(self) -> np.ndarray:
        """(n_images, C, 6) float64 per-image per-class sums (columns `SUM_COLUMNS`)."""
        out = np.zeros((self.n_images, len(self.categories), len(SUM_COLUMNS)))
        index = {c.id: k for k, c in enumerate(self.categories.categories)}
        for i, image in enumerate(self.per_image):
            for cid, values in image.class_sums:
                out[i, index[cid]] = values
        return out

    def to_json(self) -> dict[str, Any]:
        """The JSON object of docs/contracts.md §3 (NaN written as null)."""
        return {
            "pq": json_float(self.pq),
            "sq": json_float(self.sq),
            "rq": json_float(self.rq),
            "pq_dagger": json_float(self.pq_dagger),
            "things": _quality_json(self.things),
            "stuff": _quality_json(self.stuff),
            "per_class": {str(c.category.id): _class_json(c) for c in self.per_class},
            "per_image": [_image_json(i) for i in self.per_image],
            "mode": self.mode,
            "n_images": self.n_images,
        }

    def write_json(self, path: str | os.PathLike[str]) -> None:
        """Write `to_json()` to `path` atomically."""
        write_json_atomic(self.to_json(), path)

    @classmethod
    def from_json(cls, data: Any, *, source: str = "results") -> PanopticResults:
        """Rebuild results from `to_json()` output, recomputing every score from the sums."""
        from .summary import results_from_json

        return results_from_json(data, source=source)

    def to_dataframe(self, kind: str = "per_class") -> Any:
        """A pandas DataFrame of the per-class (index: category id) or per-image results."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "to_dataframe needs pandas: pip install 'panoptic-metrics[pandas]'"
            ) from None
        if kind == "per_class":
            rows = [_class_json(c) | {"category_id": c.category.id} for c in self.per_class]
            return pd.DataFrame(rows).set_index("category_id").drop(columns="iou_histogram")
        if kind == "per_image":
            rows = [
                {k: v for k, v in _image_json(i).items() if k != "classes"} for i in self.per_image
            ]
            return pd.DataFrame(rows)
        raise ValueError(f"kind must be 'per_class' or 'per_image', got {kind!r}")


def _quality_json(q: Quality) -> dict[str, Any]:
    return {
        "pq": json_float(q.pq),
        "sq": json_float(q.sq),
        "rq": json_float(q.rq),
        "pq_dagger": json_float(q.pq_dagger),
        "n": q.n,
    }


def _class_json(c: ClassResult) -> dict[str, Any]:
    return {
        "name": c.category.name,
        "isthing": c.category.isthing,
        "pq": json_float(c.pq),
        "sq": json_float(c.sq),
        "rq": json_float(c.rq),
        "pq_dagger": json_float(c.pq_dagger),
        "tp": c.tp,
        "fp": c.fp,
        "fn": c.fn,
        "iou_sum": c.iou_sum,
        "pq_dagger_n": c.dagger_n,
        "pq_dagger_iou_sum": c.dagger_iou_sum,
        "iou_histogram": list(c.iou_histogram),
    }


def _image_json(i: ImageResult) -> dict[str, Any]:
    return {
        "image_id": i.image_id,
        "pq": json_float(i.pq),
        "sq": json_float(i.sq),
        "rq": json_float(i.rq),
        "pq_dagger": json_float(i.pq_dagger),
        "tp": i.tp,
        "fp": i.fp,
        "fn": i.fn,
        "iou_sum": i.iou_sum,
        "classes": {str(cid): list(values) for cid, values in i.class_sums},
    }
