"""The results of an evaluation: a frozen dataclass built from the accumulated sums, its JSON
form (the keys of docs/contracts.md §3) and its DataFrames. The raw sums ride inside
`per_class` and `per_image`, so `from_json(to_json())` recomputes the same results; per image
they stay the matching's `ImageStats` (dense class indices), keyed by category id in JSON only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from . import scores
from .boundary import check_dilation_ratio
from .categories import Category, CategorySet
from .checks import results_values
from .decomposition import (
    ErrorDecomposition,
    build_errors,
    check_image,
    counts_from_json,
    image_counts_from_json,
    image_json,
)
from .errors import PanopticInputError
from .groups import check_groups
from .image_states import ImageStates, as_states
from .io import json_float, write_json_atomic
from .lazy import LazyRows
from .matching import FN, FP, IOU_SUM, SUM_COLUMNS, TP, ImageStats, Mode, check_mode
from .segmentation import ImageId, image_id_of
from .thresholds import LADDER_COLUMNS, check_thresholds, threshold_key

# The per-class sums in `per_class` of the JSON, in the order of `SUM_COLUMNS`.
_SUM_KEYS = ("tp", "fp", "fn", "iou_sum", "pq_dagger_n", "pq_dagger_iou_sum")
_SCORE_KEYS = ("pq", "sq", "rq", "pq_dagger")


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
class Scores:
    """PQ, SQ, RQ averaged over a set of classes at one IoU threshold; `n` classes entered."""

    pq: float
    sq: float
    rq: float
    n: int


class _Headline:
    """`pq`, `sq`, `rq`: those of `overall`."""

    overall: Scores | Quality

    @property
    def pq(self) -> float:
        return self.overall.pq

    @property
    def sq(self) -> float:
        return self.overall.sq

    @property
    def rq(self) -> float:
        return self.overall.rq


@dataclass(frozen=True)
class ClassAt:
    """One class at one IoU threshold: its scores and the sums behind them."""

    category: Category
    pq: float
    sq: float
    rq: float
    tp: int
    fp: int
    fn: int
    iou_sum: float


@dataclass(frozen=True)
class ThresholdResult(_Headline):
    """PQ, SQ, RQ with matches at IoU > `threshold` (docs/metrics.md, "PQ over IoU
    thresholds"): overall, things, stuff and per class."""

    threshold: float
    overall: Scores
    things: Scores
    stuff: Scores
    per_class: tuple[ClassAt, ...]


@dataclass(frozen=True)
class BoundaryResult(_Headline):
    """Boundary PQ, SQ, RQ (docs/metrics.md, "Boundary PQ"): PQ's with each pair's IoU the
    minimum of its mask IoU and its boundary IoU at `dilation_ratio`; overall, things, stuff
    and per class (each class's sums in its `ClassAt`)."""

    dilation_ratio: float
    overall: Scores
    things: Scores
    stuff: Scores
    per_class: tuple[ClassAt, ...]


@dataclass(frozen=True)
class GroupResult:
    """PQ, SQ, RQ, PQ† averaged over a named group of classes, as things and stuff are."""

    name: str
    category_ids: tuple[int, ...]
    quality: Quality


@dataclass(frozen=True)
class ImageResult:
    """One image: its own PQ/PQ† (over the classes it touches) and its state.

    `stats` holds the image's per-class sums (`stats.classes`, `stats.sums`); read back from
    JSON its histogram arrays are empty, as the JSON keeps the histogram per class only.
    """

    image_id: ImageId | None
    pq: float
    sq: float
    rq: float
    pq_dagger: float
    tp: int
    fp: int
    fn: int
    iou_sum: float
    stats: ImageStats = field(compare=False, repr=False)


@dataclass(frozen=True)
class PanopticResults(_Headline):
    """PQ, SQ, RQ and PQ† overall, for things and stuff, per class and per image; PQ, SQ, RQ
    at each IoU threshold (`pq_at`, empty when read from a file written without them), per
    class group (`groups`, empty unless groups were given), Boundary PQ (`boundary`, None
    unless asked for) and the error decomposition (`errors`, docs/metrics.md "Error
    decomposition")."""

    overall: Quality
    things: Quality
    stuff: Quality
    per_class: tuple[ClassResult, ...]
    per_image: Sequence[ImageResult]  # a tuple, or `ImageResults` (built when read)
    mode: Mode
    categories: CategorySet
    pq_at: tuple[ThresholdResult, ...] = ()
    groups: tuple[GroupResult, ...] = ()
    boundary: BoundaryResult | None = None
    errors: ErrorDecomposition | None = None  # None when read from a file without `errors`

    @property
    def pq_dagger(self) -> float:
        return self.overall.pq_dagger

    @property
    def n_images(self) -> int:
        return len(self.per_image)

    @property
    def iou_thresholds(self) -> tuple[float, ...]:
        return tuple(r.threshold for r in self.pq_at)

    def at(self, threshold: float) -> ThresholdResult:
        """PQ, SQ, RQ with matches at IoU > `threshold` (one of `iou_thresholds`)."""
        for r in self.pq_at:
            if r.threshold == threshold:
                return r
        raise ValueError(
            f"no results at IoU threshold {threshold!r}; computed: {list(self.iou_thresholds)} "
            "(other thresholds: `iou_thresholds` of the evaluation)"
        )

    def group(self, name: str) -> GroupResult:
        """The result of the class group `name`."""
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(f"no class group {name!r}; groups: {[g.name for g in self.groups]}")

    def with_groups(self, groups: Mapping[str, Sequence[int]]) -> PanopticResults:
        """These results with PQ per class group: `groups` maps a name to category ids
        (PanopticInputError for unknown ids or a malformed mapping); replaces any groups."""
        checked = check_groups(groups, self.categories)
        return replace(self, groups=_group_results(self, checked))

    def image_sums(self) -> np.ndarray:
        """(n_images, C, 6) float64 per-image per-class sums (columns `SUM_COLUMNS`)."""
        out = np.zeros((self.n_images, len(self.categories), len(SUM_COLUMNS)))
        for i, image in enumerate(self.per_image):
            out[i, image.stats.classes] = image.stats.sums
        return out

    def to_json(self) -> dict[str, Any]:
        """The JSON object of docs/contracts.md §3 (NaN written as null)."""
        data = self.json_parts()
        data["per_image"] = list(data["per_image"])
        return data

    def json_parts(self) -> dict[str, Any]:
        """`to_json()` with its `per_image` rows as an iterator, each row built as it is
        read: what `write_json` streams (`io.json_text_chunks`), so that the per-image part
        is never whole in memory."""
        return (
            _scores_json(self)
            | {
                "things": _quality_json(self.things),
                "stuff": _quality_json(self.stuff),
                "per_class": {str(c.category.id): _class_json(c) for c in self.per_class},
                "per_image": _images_json(self),
                "mode": self.mode,
                "n_images": self.n_images,
            }
            | _extra_json(self)
        )

    def write_json(self, path: str | os.PathLike[str]) -> None:
        """Write `to_json()` to `path` atomically, its per-image rows streamed, one a line
        (`io.json_text_chunks`; the rest indented by one space)."""
        write_json_atomic(self.json_parts(), path)

    @classmethod
    def from_json(cls, data: Any, *, source: str = "results") -> PanopticResults:
        """Rebuild results from `to_json()` output, recomputing every score from the sums;
        PanopticInputError naming `source` if `data` is not that JSON."""
        with json_form(source, "a panoptic_metrics results file"):
            per_class: Mapping[str, Any] = data["per_class"]
            categories = CategorySet(
                tuple(
                    Category(json_id(cid), str(v["name"]), bool(v["isthing"]))
                    for cid, v in per_class.items()
                )
            )
            entries = per_class.values()
            sums = np.array([[json_number(v[k]) for k in _SUM_KEYS] for v in entries])
            histogram = np.array([[json_count(n) for n in v["iou_histogram"]] for v in entries])
            index = {c.id: k for k, c in enumerate(categories.categories)}
            images = [_image_stats(row, index, source) for row in data["per_image"]]
            mode = check_mode(data["mode"])
            results_values(data)  # the values: counts in int64, finite sums, names as text
            ladder = _ladder_from_json(data["pq_at"], categories) if "pq_at" in data else None
            errors = None
            if "errors" in data:
                errors = counts_from_json(data["errors"], categories, sums)
                images = [
                    _image_errors(stats, row, index)
                    for stats, row in zip(images, data["per_image"], strict=True)
                ]
            groups = None
            if "groups" in data:
                members = {name: g["category_ids"] for name, g in data["groups"].items()}
                groups = check_groups(members, categories, source=source)
            boundary = None
            if "boundary" in data:
                boundary = _boundary_from_json(data["boundary"], categories)
        return build_results(
            categories,
            mode,
            sums,
            histogram.astype(np.int64),
            images,
            ladder=ladder,
            groups=groups,
            boundary=boundary,
            errors=errors,
        )

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
            rows = [_image_json(i, self.categories.ids) for i in self.per_image]
            return pd.DataFrame([{k: v for k, v in r.items() if k != "classes"} for r in rows])
        raise ValueError(f"kind must be 'per_class' or 'per_image', got {kind!r}")


def build_results(
    categories: CategorySet,
    mode: str,
    class_sums: np.ndarray,
    histogram: np.ndarray,
    images: Sequence[ImageStats],
    *,
    ladder: tuple[Sequence[float], np.ndarray] | None = None,
    groups: Mapping[str, tuple[int, ...]] | None = None,
    boundary: tuple[float, np.ndarray] | None = None,
    errors: np.ndarray | None = None,
) -> PanopticResults:
    """Results from the dataset state: `class_sums` (C, 6) over the dataset (columns
    `SUM_COLUMNS`), the (C, n_bins) int64 IoU `histogram`, the per-image states in order;
    `ladder`: the IoU thresholds and their (C, T, 4) sums (columns `LADDER_COLUMNS`);
    `groups`: checked class groups (`groups.check_groups`); `boundary`: the dilation ratio
    and the (C, 4) Boundary PQ sums (columns `boundary.BOUNDARY_COLUMNS`); `errors`: the (C, K)
    counts of each error cause (`decomposition.py`)."""
    isthing = categories.isthing
    per_class = scores.class_scores(class_sums, isthing)
    everything = np.ones(len(categories), dtype=bool)
    *_, dagger_n, dagger_iou_sum = class_sums.T  # the last two of `SUM_COLUMNS`
    classes = tuple(
        ClassResult(
            category=cat,
            **_shared_fields(per_class, class_sums, c),
            dagger_n=int(dagger_n[c]),
            dagger_iou_sum=float(dagger_iou_sum[c]),
            iou_histogram=tuple(int(v) for v in histogram[c]),
        )
        for c, cat in enumerate(categories.categories)
    )
    images = as_states(images)  # flat arrays: no Python object per image but the results'
    results = PanopticResults(
        overall=_quality(per_class, everything, "all classes"),
        things=_quality(per_class, isthing, "things"),
        stuff=_quality(per_class, ~isthing, "stuff"),
        per_class=classes,
        per_image=_image_results(categories, images),
        mode=check_mode(mode),
        categories=categories,
        pq_at=() if ladder is None else _threshold_results(categories, *ladder),
        boundary=None if boundary is None else _boundary_result(categories, *boundary),
        errors=None if errors is None else build_errors(categories, class_sums, errors, images),
    )
    return results if not groups else replace(results, groups=_group_results(results, groups))


def _threshold_results(
    categories: CategorySet, thresholds: Sequence[float], ladder: np.ndarray
) -> tuple[ThresholdResult, ...]:
    """Scores at each threshold from the (C, T, 4) sums; a class is defined at every threshold
    or at none (TP + FN is the same at all), so the 0.5 averages have given any warning."""
    isthing = categories.isthing
    sums = np.zeros((len(thresholds), len(categories), len(SUM_COLUMNS)))
    sums[..., : len(LADDER_COLUMNS)] = ladder.transpose(1, 0, 2)
    at = scores.class_scores(sums, isthing)
    masks = (np.ones(len(categories), dtype=bool), isthing, ~isthing)
    out = []
    for k, t in enumerate(thresholds):
        means = []
        for mask in masks:
            pq, n = scores.nanmean(at.pq[k], mask)
            sq, rq = (float(scores.nanmean(v[k], mask)[0]) for v in (at.sq, at.rq))
            means.append(Scores(float(pq), sq, rq, int(n)))
        per_class = tuple(
            ClassAt(
                category=cat,
                pq=float(at.pq[k, c]),
                sq=float(at.sq[k, c]),
                rq=float(at.rq[k, c]),
                tp=int(ladder[c, k, TP]),
                fp=int(ladder[c, k, FP]),
                fn=int(ladder[c, k, FN]),
                iou_sum=float(ladder[c, k, IOU_SUM]),
            )
            for c, cat in enumerate(categories.categories)
        )
        overall, things, stuff = means
        out.append(ThresholdResult(float(t), overall, things, stuff, per_class))
    return tuple(out)


def _boundary_result(
    categories: CategorySet, dilation_ratio: float, sums: np.ndarray
) -> BoundaryResult:
    """Boundary PQ from its (C, 4) sums: the scores of one threshold's (same columns)."""
    (at,) = _threshold_results(categories, (0.5,), sums[:, None, :])
    return BoundaryResult(float(dilation_ratio), at.overall, at.things, at.stuff, at.per_class)


def _group_results(
    results: PanopticResults, groups: Mapping[str, tuple[int, ...]]
) -> tuple[GroupResult, ...]:
    """Each group's means of the per-class scores, with the rules of things and stuff."""
    values = scores.ClassScores(
        *(np.array([getattr(c, k) for c in results.per_class]) for k in _SCORE_KEYS)
    )
    ids = results.categories.ids
    return tuple(
        GroupResult(name, members, _quality(values, np.isin(ids, members), f"group {name!r}"))
        for name, members in groups.items()
    )


def _quality(per_class: scores.ClassScores, mask: np.ndarray, what: str) -> Quality:
    pq, n = scores.average(per_class.pq, mask, f"PQ of {what}")
    sq, _ = scores.nanmean(per_class.sq, mask)
    rq, _ = scores.nanmean(per_class.rq, mask)
    if n:  # PQ† can be undefined on its own: stuff predicted only where the gt has none
        pq_dagger, _ = scores.average(per_class.pq_dagger, mask, f"PQ† of {what}")
    else:
        pq_dagger = float(scores.nanmean(per_class.pq_dagger, mask)[0])
    return Quality(pq, float(sq), float(rq), pq_dagger, n)


class ImageResults(LazyRows[ImageResult]):
    """`PanopticResults.per_image`: each image's `ImageResult`, built when read from the
    per-image score and sum arrays and the flat states (no Python object per image)."""

    def __init__(self, states: ImageStates, own: scores.ClassScores, totals: np.ndarray):
        super().__init__(len(states))
        self.states, self.own, self.totals = states, own, totals

    def _item(self, i: int) -> ImageResult:
        fields = _shared_fields(self.own, self.totals, i)
        return ImageResult(image_id=self.states.image_ids[i], **fields, stats=self.states[i])


def _image_results(categories: CategorySet, images: ImageStates) -> Sequence[ImageResult]:
    """Per-image scores, all images at once: one row per (image, class) it touches."""
    if not images:
        return ()
    owner, cls, sums = images.rows()
    rows = scores.class_scores(sums, categories.isthing[cls])
    n = len(images)

    def per_image(values: np.ndarray) -> np.ndarray:
        defined = ~np.isnan(values)
        count = np.bincount(owner[defined], minlength=n)
        total = np.bincount(owner[defined], weights=values[defined], minlength=n)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    own = scores.ClassScores(*(per_image(v) for v in (rows.pq, rows.sq, rows.rq, rows.pq_dagger)))
    totals = np.stack([np.bincount(owner, weights=sums[:, k], minlength=n) for k in range(4)], 1)
    return ImageResults(images, own, totals)


def _shared_fields(values: scores.ClassScores, sums: np.ndarray, k: int) -> dict[str, Any]:
    """Row `k`'s scores and its tp, fp, fn, iou_sum (the first `SUM_COLUMNS` of `sums`): the
    fields that `ClassResult` and `ImageResult` share."""
    tp, fp, fn, iou_sum = sums[k, :4]
    four = {"pq": values.pq, "sq": values.sq, "rq": values.rq, "pq_dagger": values.pq_dagger}
    # NaN as the one `math.nan` object, so that results built twice compare equal
    own = {name: _float(v[k]) for name, v in four.items()}
    return own | {"tp": int(tp), "fp": int(fp), "fn": int(fn), "iou_sum": float(iou_sum)}


def _float(x: Any) -> float:
    value = float(x)
    return math.nan if math.isnan(value) else value


def _scores_json(x: Quality | ClassResult | ImageResult | PanopticResults) -> dict[str, Any]:
    return {k: json_float(getattr(x, k)) for k in ("pq", "sq", "rq", "pq_dagger")}


def _quality_json(q: Quality) -> dict[str, Any]:
    return _scores_json(q) | {"n": q.n}


def _class_json(c: ClassResult) -> dict[str, Any]:
    head = {"name": c.category.name, "isthing": c.category.isthing} | _scores_json(c)
    sums = (c.tp, c.fp, c.fn, c.iou_sum, c.dagger_n, c.dagger_iou_sum)
    return head | dict(zip(_SUM_KEYS, sums, strict=True)) | {"iou_histogram": list(c.iou_histogram)}


def _extra_json(r: PanopticResults) -> dict[str, Any]:
    """`pq_at`, `groups` and `errors`, where the results have them (docs/contracts.md §3)."""
    out: dict[str, Any] = {}
    if r.pq_at:
        out["pq_at"] = {threshold_key(t.threshold): _threshold_json(t) for t in r.pq_at}
    if r.boundary is not None:
        out["boundary"] = _boundary_json(r.boundary)
    if r.groups:
        out["groups"] = {
            g.name: {"category_ids": list(g.category_ids)} | _quality_json(g.quality)
            for g in r.groups
        }
    if r.errors is not None:
        out["errors"] = r.errors.to_json()
    return out


def _three(x: Scores | ClassAt) -> dict[str, Any]:
    return {k: json_float(getattr(x, k)) for k in ("pq", "sq", "rq")}


def _threshold_json(t: ThresholdResult) -> dict[str, Any]:
    per_class = {
        str(c.category.id): _three(c) | {"tp": c.tp, "fp": c.fp, "fn": c.fn, "iou_sum": c.iou_sum}
        for c in t.per_class
    }
    return _three(t.overall) | {
        "n": t.overall.n,
        "things": _three(t.things) | {"n": t.things.n},
        "stuff": _three(t.stuff) | {"n": t.stuff.n},
        "per_class": per_class,
    }


def _boundary_scores_json(x: Scores | ClassAt) -> dict[str, Any]:
    return {f"boundary_{k}": json_float(getattr(x, k)) for k in ("pq", "sq", "rq")}


def _boundary_json(b: BoundaryResult) -> dict[str, Any]:
    """The `boundary` object of docs/contracts.md §3: scores as boundary_pq, boundary_sq,
    boundary_rq; per class also the sums behind them."""
    per_class = {
        str(c.category.id): _boundary_scores_json(c)
        | {"tp": c.tp, "fp": c.fp, "fn": c.fn, "iou_sum": c.iou_sum}
        for c in b.per_class
    }
    return (
        {"dilation_ratio": b.dilation_ratio}
        | _boundary_scores_json(b.overall)
        | {
            "n": b.overall.n,
            "things": _boundary_scores_json(b.things) | {"n": b.things.n},
            "stuff": _boundary_scores_json(b.stuff) | {"n": b.stuff.n},
            "per_class": per_class,
        }
    )


def _boundary_from_json(
    data: Mapping[str, Any], categories: CategorySet
) -> tuple[float, np.ndarray]:
    """The dilation ratio and (C, 4) sums of a `boundary` object (every class present)."""
    ratio = check_dilation_ratio(json_number(data["dilation_ratio"]))
    sums = np.zeros((len(categories), len(LADDER_COLUMNS)))
    for c, cat in enumerate(categories.categories):
        row = data["per_class"][str(cat.id)]
        counts = [json_count(row[key]) for key in ("tp", "fp", "fn")]
        iou_sum = json_number(row["iou_sum"])
        if min(counts) < 0 or not 0 <= iou_sum < math.inf:
            raise ValueError(f"boundary class {cat.id}: negative or bad sums")
        sums[c] = (*counts, iou_sum)
    return ratio, sums


def _ladder_from_json(
    data: Mapping[str, Any], categories: CategorySet
) -> tuple[tuple[float, ...], np.ndarray]:
    """The thresholds and (C, T, 4) sums of a `pq_at` object (every class at every threshold)."""
    thresholds = tuple(float(key) for key in data)
    if check_thresholds(thresholds) != thresholds:
        raise ValueError(f"pq_at thresholds {list(data)} are not increasing values in [0.5, 1)")
    ladder = np.zeros((len(categories), len(thresholds), len(LADDER_COLUMNS)))
    for k, entry in enumerate(data.values()):
        for c, cat in enumerate(categories.categories):
            row = entry["per_class"][str(cat.id)]
            counts = [json_count(row[key]) for key in ("tp", "fp", "fn")]
            iou_sum = json_number(row["iou_sum"])
            if min(counts) < 0 or not 0 <= iou_sum < math.inf:
                raise ValueError(f"pq_at {list(data)[k]} class {cat.id}: negative or bad sums")
            ladder[c, k] = (*counts, iou_sum)
    return thresholds, ladder


def _image_json(i: ImageResult, ids: np.ndarray) -> dict[str, Any]:
    """An image's JSON row; its sums keyed by category id (`ids`: the id of each index)."""
    head = {"image_id": i.image_id} | _scores_json(i)
    totals = {"tp": i.tp, "fp": i.fp, "fn": i.fn, "iou_sum": i.iou_sum}
    classes = zip(ids[i.stats.classes].tolist(), i.stats.sums.tolist(), strict=True)
    return head | totals | {"classes": {str(cid): values for cid, values in classes}}


def _images_json(r: PanopticResults) -> Iterator[dict[str, Any]]:
    """The `per_image` rows, one at a time, each with its `errors` object where the results
    have them."""
    ids = r.categories.ids
    if r.errors is None:
        return (_image_json(i, ids) for i in r.per_image)
    pairs = zip(r.per_image, r.errors.per_image, strict=True)
    return (_image_json(i, ids) | {"errors": image_json(e, i.stats, ids)} for i, e in pairs)


def _image_errors(
    stats: ImageStats, row: Mapping[str, Any], index: Mapping[int, int]
) -> ImageStats:
    """`stats` with the error counts of its JSON row's `errors` object, checked."""
    counts = image_counts_from_json(row["errors"], index, stats.classes)
    out = replace(stats, errors=counts)
    check_image(out, f"image {stats.image_id!r}")
    return out


def _image_stats(row: Mapping[str, Any], index: Mapping[int, int], source: str) -> ImageStats:
    """An image's state from its JSON row (`index`: category id -> dense class index)."""
    items = sorted((index[json_id(cid)], v) for cid, v in row["classes"].items())
    classes = np.array([c for c, _ in items], dtype=np.int64)
    sums = np.array([[json_number(x) for x in v] for _, v in items], dtype=np.float64)
    sums = sums.reshape(len(items), len(SUM_COLUMNS))
    image_id = None if row["image_id"] is None else image_id_of(row["image_id"], source)
    return ImageStats(image_id, classes, sums, classes[:0], classes[:0])


# ---- reading the JSON forms back (shared by every result type's `from_json`) ---------------


@contextmanager
def json_form(source: str, what: str) -> Iterator[None]:
    """Errors of malformed JSON read in the block -> ``<source>: not <what> (<the error>)``."""
    try:
        yield
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        raise PanopticInputError(source, f"not {what} ({type(exc).__name__}: {exc})") from None


def json_number(value: Any) -> float:
    """A JSON number as a float, null as NaN (math.nan itself: equal results compare equal)."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number or null, got {value!r}")
    return float(value)


def json_count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def by_id_json(ids: Sequence[int], values: Sequence[float]) -> dict[str, Any]:
    """Per-class values keyed by category id as a string, NaN as null."""
    return {str(c): json_float(v) for c, v in zip(ids, values, strict=True)}


def by_id_from_json(data: Mapping[str, Any]) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """The category ids and values of a `by_id_json` object."""
    return tuple(json_id(c) for c in data), tuple(json_number(v) for v in data.values())


def json_id(key: Any) -> int:
    """A category id as a JSON object key, e.g. "7"."""
    if not isinstance(key, str) or not (key.isascii() and key.isdigit()):
        raise ValueError(f"expected a category id, got {key!r}")
    return int(key)
