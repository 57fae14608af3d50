"""Properties of the metric: perfect = 1, disjoint = 0, invariance to segment-id permutation,
merge of two halves = the whole, and the modes' documented relations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from panoptic_metrics import CategorySet, PanopticAccumulator, from_segments

from tests.metrics.panoptic_data import (
    CATEGORIES,
    STUFF_IDS,
    THING_IDS,
    Annotated,
    assert_results_close,
    random_dataset,
)

CATS = CategorySet.from_coco(CATEGORIES)


def _evaluate(
    gts: list[Annotated], preds: list[Annotated], mode: str = "strict"
) -> PanopticAccumulator:
    acc = PanopticAccumulator(CATS, mode=mode)  # type: ignore[arg-type]
    for gt, pred in zip(gts, preds, strict=True):
        acc.update(
            from_segments(gt.ids, gt.segments, image_id=gt.image_id),
            from_segments(pred.ids, pred.segments, image_id=pred.image_id),
        )
    return acc


@pytest.fixture(scope="module")
def dataset() -> tuple[list[Annotated], list[Annotated]]:
    return random_dataset(seed=2, n=16)


def _copy(image: Annotated, **changes: object) -> Annotated:
    fields = {"image_id": image.image_id, "ids": image.ids, "segments": image.segments}
    return Annotated(**{**fields, **changes})  # type: ignore[arg-type]


def _without_crowd(image: Annotated) -> Annotated:
    crowd = [s["id"] for s in image.segments if s["iscrowd"]]
    ids = np.where(np.isin(image.ids, crowd), 0, image.ids)
    return _copy(image, ids=ids, segments=[s for s in image.segments if not s["iscrowd"]])


@pytest.mark.parametrize("mode", ["strict", "pixels"])
def test_perfect_prediction_scores_one(
    dataset: tuple[list[Annotated], list[Annotated]], mode: str
) -> None:
    """The gt as prediction, crowd regions left void. (Predicting the crowd regions as
    segments also scores 1 in pixels mode, but not in strict mode when a class has two crowd
    regions in one image: panopticapi consults only the last one.)"""
    gts = [g for g in dataset[0] if g.segments]
    results = _evaluate(gts, [_without_crowd(g) for g in gts], mode).compute()
    for value in (results.pq, results.sq, results.rq, results.pq_dagger):
        assert value == 1.0
    for q in (results.things, results.stuff):
        assert (q.pq, q.sq, q.rq, q.pq_dagger) == (1.0, 1.0, 1.0, 1.0)
    assert all(c.fp == c.fn == 0 for c in results.per_class)
    assert all(i.pq == 1.0 for i in results.per_image)
    if mode == "pixels":
        assert _evaluate(gts, gts, mode).compute().pq == 1.0


def _relabel(image: Annotated) -> Annotated:
    """Every segment to the next class of its kind: nothing overlaps its own class."""
    nxt = {
        a: b
        for group in (STUFF_IDS, THING_IDS)
        for a, b in zip(group, group[1:] + group[:1], strict=True)
    }
    segments = [{**s, "category_id": nxt[s["category_id"]], "iscrowd": 0} for s in image.segments]
    return _copy(image, segments=segments)


def test_disjoint_prediction_scores_zero(dataset: tuple[list[Annotated], list[Annotated]]) -> None:
    gts = [_copy(g, segments=[{**s, "iscrowd": 0} for s in g.segments]) for g in dataset[0]]
    gts = [g for g in gts if g.segments]
    results = _evaluate(gts, [_relabel(g) for g in gts]).compute()
    assert results.pq == results.sq == results.rq == results.pq_dagger == 0.0
    assert all(c.tp == 0 for c in results.per_class)


def _permute_ids(image: Annotated, rng: np.random.Generator) -> Annotated:
    old = np.array([s["id"] for s in image.segments], dtype=np.int64)
    new = rng.choice((1 << 24) - 1, size=len(old), replace=False) + 1
    lut = dict(zip(old.tolist(), new.tolist(), strict=True))
    keys = np.array([0, *old.tolist()])
    order = np.argsort(keys)
    values = np.array([0, *new.tolist()])[order]
    ids = values[np.searchsorted(keys[order], image.ids)]
    segments = [{**s, "id": lut[s["id"]]} for s in image.segments]
    return _copy(image, ids=ids, segments=segments)


def test_segment_id_permutation_changes_nothing(
    dataset: tuple[list[Annotated], list[Annotated]],
) -> None:
    rng = np.random.default_rng(0)
    gts, preds = dataset
    base = _evaluate(gts, preds).compute().to_json()
    permuted = _evaluate([_permute_ids(g, rng) for g in gts], [_permute_ids(p, rng) for p in preds])
    assert permuted.compute().to_json() == base  # the same numbers, bit for bit


def test_segment_order_changes_nothing_without_repeated_crowd(
    dataset: tuple[list[Annotated], list[Annotated]],
) -> None:
    """Order matters only to strict mode's "last crowd segment of a class"; shuffle lists
    whose images have at most one crowd segment per class."""
    rng = np.random.default_rng(1)
    gts, preds = dataset
    keep = [
        k
        for k, g in enumerate(gts)
        if len({s["category_id"] for s in g.segments if s["iscrowd"]})
        == sum(s["iscrowd"] for s in g.segments)
    ]
    assert len(keep) < len(gts)  # the data does have an image with two crowds of a class
    gts, preds = [gts[k] for k in keep], [preds[k] for k in keep]
    base = _evaluate(gts, preds).compute()
    shuffled = _evaluate(
        [_copy(g, segments=list(rng.permutation(g.segments))) for g in gts],
        [_copy(p, segments=list(rng.permutation(p.segments))) for p in preds],
    ).compute()
    assert_results_close(shuffled, base)


def test_merge_of_two_halves_equals_the_whole(
    dataset: tuple[list[Annotated], list[Annotated]],
) -> None:
    gts, preds = dataset
    whole = _evaluate(gts, preds)
    half = len(gts) // 2
    first = _evaluate(gts[:half], preds[:half])
    second = _evaluate(gts[half:], preds[half:])
    merged = first.merge(second).compute()
    assert_results_close(merged, whole.compute())
    assert [i.image_id for i in merged.per_image] == [g.image_id for g in gts]
    assert merged.to_json()["per_image"] == whole.compute().to_json()["per_image"]


def test_compute_is_pure_and_reset_forgets(
    dataset: tuple[list[Annotated], list[Annotated]],
) -> None:
    gts, preds = dataset
    acc = _evaluate(gts, preds)
    assert acc.compute().to_json() == acc.compute().to_json()
    acc.reset()
    assert acc.n_images == 0
    with pytest.warns(RuntimeWarning, match="no class to average"):
        empty = acc.compute()
    assert math.isnan(empty.pq)
    assert math.isnan(empty.pq_dagger)
    assert empty.overall.n == 0


def test_strict_and_pixels_agree_when_json_areas_are_true_and_crowds_single(
    dataset: tuple[list[Annotated], list[Annotated]],
) -> None:
    """The two modes differ only by the JSON areas and by repeated crowd segments of a class
    (the last image of the dataset has two crowd car boxes, see panoptic_data)."""
    gts, preds = dataset
    strict = _evaluate(gts[:-1], preds[:-1], "strict").compute()
    pixels = _evaluate(gts[:-1], preds[:-1], "pixels").compute()
    assert strict.to_json() | {"mode": "pixels"} == pixels.to_json()
    strict = _evaluate(gts[-1:], preds[-1:], "strict").compute()
    pixels = _evaluate(gts[-1:], preds[-1:], "pixels").compute()
    car = CATS.ids.tolist().index(THING_IDS[1])
    # derivation (panoptic_data._two_crowds): the car on the first-listed crowd box is an
    # FP in strict mode (only the last crowd box is consulted) and exempt in pixels mode
    assert (strict.per_class[car].tp, strict.per_class[car].fp) == (1, 1)
    assert (pixels.per_class[car].tp, pixels.per_class[car].fp) == (1, 0)


def test_stuff_segments_of_one_class_count_once_for_pq_dagger() -> None:
    """gt: road as two segments (left 8, right 8 pixels) of a 4x4 image; prediction: one road
    segment on the left 8 and 4 of the right. PQ: left IoU 8/12 (TP), right 0 (FN) -> PQ_road
    = (8/12) / (1 + 0.5) = 4/9. PQ†: merged, IoU = 12/16 = 0.75, |S| = 1 -> 0.75."""
    ids = np.zeros((4, 4), np.int64)
    ids[:, :2], ids[:, 2:] = 1, 2
    gt = from_segments(ids, [{"id": 1, "category_id": 3}, {"id": 2, "category_id": 3}])
    pred_ids = np.full((4, 4), 9, np.int64)
    pred_ids[2:, 2:] = 0
    pred = from_segments(pred_ids, [{"id": 9, "category_id": 3}])
    acc = PanopticAccumulator(CATS)
    acc.update(gt, pred)
    with pytest.warns(RuntimeWarning, match="PQ of things: no class"):
        results = acc.compute()
    road = results.per_class[0]
    assert road.pq == pytest.approx(4 / 9, abs=1e-15)
    assert road.pq_dagger == pytest.approx(0.75, abs=1e-15)
    assert (road.dagger_n, road.tp, road.fn) == (1, 1, 1)


def test_stuff_predicted_where_the_gt_has_none_is_not_penalised_by_pq_dagger() -> None:
    """gt: a car (left half) and a person (right half); prediction: the car, and road on the
    right half. PQ: car 1, person FN -> 0, road FP -> 0: PQ = 1/3, stuff PQ = 0. PQ†: road
    has |S_road| = 0, so PQ†_road is undefined: PQ† = (1 + 0) / 2, stuff PQ† NaN (warned)."""
    ids = np.where(np.arange(4) < 2, 1, 2)[None, :].repeat(2, axis=0)
    gt = from_segments(
        ids, [{"id": 1, "category_id": THING_IDS[0]}, {"id": 2, "category_id": THING_IDS[1]}]
    )
    pred = from_segments(
        ids, [{"id": 1, "category_id": THING_IDS[0]}, {"id": 2, "category_id": STUFF_IDS[0]}]
    )
    acc = PanopticAccumulator(CATS)
    acc.update(gt, pred)
    with pytest.warns(RuntimeWarning, match="PQ† of stuff: no class to average"):
        results = acc.compute()
    assert results.pq == pytest.approx(1 / 3, abs=1e-15)
    assert results.pq_dagger == 0.5
    assert results.stuff.pq == 0.0
    assert math.isnan(results.stuff.pq_dagger)
