"""The panoptic error decomposition (docs/metrics.md, "Error decomposition"): each cause from a
constructed image that produces it (and, where the geometry allows, nothing else), causes that
add up to FN and FP per class on random maps, and the ΔPQ oracles."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from panoptic_metrics import (
    Category,
    CategorySet,
    PanopticAccumulator,
    PanopticInputError,
    from_segments,
)
from panoptic_metrics.bootstrap import paired_bootstrap
from panoptic_metrics.decomposition import CAUSES, FIXES, FN_CAUSES, fixed_class_pq
from panoptic_metrics.error_analysis import compare_errors
from panoptic_metrics.results import PanopticResults

from tests.metrics.panoptic_data import CATEGORIES, random_dataset

ROAD, CAR, PERSON = 1, 2, 3
CATS = CategorySet(
    (Category(ROAD, "road", False), Category(CAR, "car", True), Category(PERSON, "person", True))
)


def _image(rows: list[str], classes: dict[str, int], crowd: str = "") -> tuple:  # type: ignore[type-arg]
    """A map drawn as text: each letter a segment (its class in `classes`), '.' void."""
    letters = sorted(classes)
    ids = np.array([[0 if ch == "." else letters.index(ch) + 1 for ch in row] for row in rows])
    segments = [
        {"id": k + 1, "category_id": classes[ch], "iscrowd": int(ch in crowd)}
        for k, ch in enumerate(letters)
        if (ids == k + 1).any()
    ]
    return ids, segments


def _errors(gt: tuple, pred: tuple, mode: str = "strict") -> dict[str, int]:  # type: ignore[type-arg]
    acc = PanopticAccumulator(CATS, mode=mode)  # type: ignore[arg-type]
    acc.update(from_segments(*gt), from_segments(*pred))
    results = acc.compute()
    assert results.errors is not None
    return {k: v for k, v in results.errors.overall.counts.items() if v}


# Each case: (gt rows, gt classes, gt crowd letters), (pred rows, pred classes), the counts.
# The IoU of each pair is PQ's, |g ∩ p| / (|g| + |p| − |g ∩ p| − |p ∩ void|), worked out in
# the comment; thresholds: match IoU > 0.5, "localisation" IoU > 0.1, "covers most" > half.
CASES = {
    # person g = 4 px; the car p covers g and 5 void px: IoU 4 / (9 + 4 - 4 - 5) = 1 > 0.5 of
    # another class. p is more than half on void (5 of 9), so it is no FP: fn_class alone.
    "fn_class": (
        (["gggg.....", "........."], {"g": PERSON}, ""),
        (["ppppppppp", "........."], {"p": CAR}),
        {"fn_class": 1},
    ),
    # the same confusion with the car p exactly on g: p is also an FP (of class car), and g
    # cannot be matched by another prediction (IoU > 0.5 needs more than half of g), so a
    # class-confusion FP always comes with the FN it confuses.
    "fp_class": (
        (["gggg......"], {"g": PERSON}, ""),
        (["pppp......"], {"p": CAR}),
        {"fn_class": 1, "fp_class": 1},
    ),
    # cars a = 6 px, b = 3 px; p covers both: IoU(a, p) = 6/9 > 0.5 matches a; b is covered
    # entirely by p, which also covers more than half of another car: b is merged.
    "fn_merged": (
        (["aaaaaabbb."], {"a": CAR, "b": CAR}, ""),
        (["ppppppppp."], {"p": CAR}),
        {"fn_merged": 1},
    ),
    # car g = 8 px; p and q each cover half of it (IoU 4 / (9 + 8 - 4 - 5) = 0.5, not > 0.5)
    # and together all of it: split. Each is more than half on void (5 of 9 px): no FP.
    "fn_split": (
        (["gggggggg..", ".........."], {"g": CAR}, ""),
        (["ppppqqqq..", "pppppqqqqq"], {"p": CAR, "q": CAR}),
        {"fn_split": 1},
    ),
    # car g = 8 px; p covers 3 px of it and 4 void px: IoU 3 / (7 + 8 - 3 - 4) = 3/8 in
    # (0.1, 0.5]; one part only (no split); p is more than half on void: no FP.
    "fn_localisation": (
        (["gggggggg..", ".........."], {"g": CAR}, ""),
        (["ppp.......", "pppp......"], {"p": CAR}),
        {"fn_localisation": 1},
    ),
    # nothing predicted on the car g
    "fn_missed": (
        (["gggg......"], {"g": CAR}, ""),
        ([".........."], {}),
        {"fn_missed": 1},
    ),
    # car g = 8 px matched by p (IoU 6/8); q lies inside g (2 px), which is already matched
    "fp_duplicate": (
        (["gggggggg.."], {"g": CAR}, ""),
        (["ppppppqq.."], {"p": CAR, "q": CAR}),
        {"fp_duplicate": 1},
    ),
    # car g = 7 px matched by p (IoU 5/7), road r = 10 px by s (IoU 7/10); q (5 px) has 2 px
    # on g: IoU 2 / (5 + 7 - 2) = 0.2 in (0.1, 0.5], not mostly inside g (2 of 5 px), and
    # 3 px on r: IoU 3 / (5 + 10 - 3) = 0.25 with another class (same class comes first)
    "fp_localisation": (
        (["gggggggrrrrrrrrrr"], {"g": CAR, "r": ROAD}, ""),
        (["pppppqqqqqsssssss"], {"p": CAR, "q": CAR, "s": ROAD}),
        {"fp_localisation": 1},
    ),
    # the same with the person g and a car q: IoU 2/10 and 3/12 with segments of other classes
    "fp_class_localisation": (
        (["gggggggrrrrrrrrrr"], {"g": PERSON, "r": ROAD}, ""),
        (["pppppqqqqqsssssss"], {"p": PERSON, "q": CAR, "s": ROAD}),
        {"fp_class_localisation": 1},
    ),
    # a person crowd region (6 px) and void (4 px) under a car p: not exempt (the rule counts
    # void + *car* crowd, 4 of 10), but all of it on void + crowd of any class
    "fp_crowd_void": (
        (["gggggg...."], {"g": PERSON}, "g"),
        (["pppppppppp"], {"p": CAR}),
        {"fp_crowd_void": 1},
    ),
    # road r = 20 px matched by p (IoU 18/20); the car q (2 px) has IoU 2/20 = 0.1, not
    # above 0.1, with r and touches nothing else
    "fp_background": (
        (["rrrrrrrrrrrrrrrrrrrr"], {"r": ROAD}, ""),
        (["ppppppppppppppppppqq"], {"p": ROAD, "q": CAR}),
        {"fp_background": 1},
    ),
}


def test_every_cause_has_a_case() -> None:
    assert set(CASES) == set(CAUSES)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("mode", ["strict", "pixels"])
def test_constructed_case_produces_its_cause(name: str, mode: str) -> None:
    (gt_rows, gt_classes, crowd), (pred_rows, pred_classes), expected = CASES[name]
    gt = _image(gt_rows, gt_classes, crowd)
    pred = _image(pred_rows, pred_classes)
    assert _errors(gt, pred, mode) == expected


def test_split_parts_are_duplicates() -> None:
    """A car split in two halves (each IoU 4/8 = 0.5): one split FN and two split-part FPs."""
    gt = _image(["gggggggg.."], {"g": CAR})
    pred = _image(["ppppqqqq.."], {"p": CAR, "q": CAR})
    assert _errors(gt, pred) == {"fn_split": 1, "fp_duplicate": 2}


def test_merging_prediction_is_a_localisation_fp() -> None:
    """Two cars a, b (4 px each) under one car p: IoU 4/8 = 0.5 with each, so neither is
    matched; both are merged FNs and p, on two segments of its class, a localisation FP."""
    gt = _image(["aaaabbbb.."], {"a": CAR, "b": CAR})
    pred = _image(["pppppppp.."], {"p": CAR})
    assert _errors(gt, pred) == {"fn_merged": 2, "fp_localisation": 1}


# ---- random maps: every FN and FP has exactly one cause --------------------------------------


@st.composite
def _maps(draw: st.DrawFn):  # type: ignore[no-untyped-def]
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 8))
    cells = st.lists(st.integers(0, 5), min_size=h * w, max_size=h * w)
    gt_ids = np.array(draw(cells)).reshape(h, w)
    pred_ids = np.array(draw(cells)).reshape(h, w)
    cls = st.sampled_from([ROAD, CAR, PERSON])
    gt = [
        {"id": int(i), "category_id": draw(cls), "iscrowd": int(draw(st.booleans()))}
        for i in np.unique(gt_ids[gt_ids > 0])
    ]
    pred = [{"id": int(i), "category_id": draw(cls)} for i in np.unique(pred_ids[pred_ids > 0])]
    return (gt_ids, gt), (pred_ids, pred)


@settings(max_examples=60, deadline=None, database=None)
@given(st.lists(_maps(), min_size=1, max_size=3), st.sampled_from(["strict", "pixels"]))
def test_causes_add_up_to_fn_and_fp_per_class_and_image(images, mode: str) -> None:  # type: ignore[no-untyped-def]
    acc = PanopticAccumulator(CATS, mode=mode)  # type: ignore[arg-type]
    for gt, pred in images:
        acc.update(from_segments(*gt), from_segments(*pred))
    results = acc.compute()
    assert results.errors is not None
    n_fn = len(FN_CAUSES)
    for c, errors in zip(results.per_class, results.errors.per_class, strict=True):
        values = list(errors.counts.values())
        assert (sum(values[:n_fn]), sum(values[n_fn:])) == (c.fn, c.fp)
    for image, errors in zip(results.per_image, results.errors.per_image, strict=True):
        values = list(errors.counts.values())
        assert (sum(values[:n_fn]), sum(values[n_fn:])) == (image.fn, image.fp)


# ---- ΔPQ ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def random_results() -> PanopticResults:
    gts, preds = random_dataset(seed=5, n=16)
    acc = PanopticAccumulator(CategorySet.from_coco(CATEGORIES))
    for gt, pred in zip(gts, preds, strict=True):
        acc.update(
            from_segments(gt.ids, gt.segments, image_id=gt.image_id),
            from_segments(pred.ids, pred.segments, image_id=pred.image_id),
        )
    return acc.compute()


def test_fixing_everything_gives_one_minus_pq(random_results: PanopticResults) -> None:
    """The everything oracle makes every class with ground truth score 1 (its FNs become
    perfect TPs, its FPs go, its TPs get IoU 1) and leaves a class with FPs only nothing to
    score, so PQ becomes 1: ΔPQ = 1 − PQ, bit for bit."""
    errors = random_results.errors
    assert errors is not None
    assert errors.overall.delta_pq["everything"] == 1.0 - random_results.pq
    assert errors.things.delta_pq["everything"] == 1.0 - random_results.things.pq
    assert errors.stuff.delta_pq["everything"] == 1.0 - random_results.stuff.pq
    for image, own in zip(random_results.per_image, errors.per_image, strict=True):
        if image.tp + image.fn:
            assert own.delta_pq["everything"] == 1.0 - image.pq


def test_aggregate_oracles_per_class(random_results: PanopticResults) -> None:
    """Per class, from PQ_c = Σ IoU / (TP + FP/2 + FN/2): fixing the segmentation leaves
    TP / (TP + FP/2 + FN/2) = RQ_c; fixing every FN (perfect TPs) leaves (Σ IoU + FN) /
    (TP + FN + FP/2); a single FN (FP) cause lies between no fix and all FN (FP) fixed."""
    assert random_results.errors is not None
    for c, e in zip(random_results.per_class, random_results.errors.per_class, strict=True):
        if math.isnan(c.pq):
            continue
        assert e.delta_pq["segmentation"] == pytest.approx(c.rq - c.pq, abs=1e-12)
        if c.tp + c.fn:
            fixed = (c.iou_sum + c.fn) / (c.tp + c.fn + c.fp / 2)
            assert e.delta_pq["all_fn"] == pytest.approx(fixed - c.pq, abs=1e-12)
        for name in CAUSES:
            bound = e.delta_pq["all_fn" if name in FN_CAUSES else "all_fp"]
            assert -1e-12 <= e.delta_pq[name] <= bound + 1e-12 or math.isnan(bound)


def test_delta_pq_of_the_merged_case() -> None:
    """fn_merged case: car TP 1 with IoU 6/9, one FN, road absent -> PQ = PQ_car =
    (2/3) / (1 + 1/2) = 4/9; with the merged FN a TP of IoU 1, PQ_car = (2/3 + 1) / 2 = 5/6:
    ΔPQ = 5/6 − 4/9 = 7/18."""
    (gt_rows, gt_classes, _), (pred_rows, pred_classes), _ = CASES["fn_merged"]
    acc = PanopticAccumulator(CATS)
    acc.update(
        from_segments(*_image(gt_rows, gt_classes)), from_segments(*_image(pred_rows, pred_classes))
    )
    errors = acc.compute().errors
    assert errors is not None
    assert errors.overall.delta_pq["fn_merged"] == pytest.approx(7 / 18, abs=1e-15)
    assert errors.overall.delta_pq["fn_missed"] == 0.0


def test_fixed_class_pq_of_classes_with_errors_only() -> None:
    """A class with 3 missed FNs and 2 background FPs has PQ 0. Fixing the FNs makes them
    TPs of IoU 1: 3 / (3 + 2/2) = 3/4; removing the FPs leaves 0 / (3/2) = 0; a class with
    FPs only has nothing to score once they are removed (NaN: it leaves the mean)."""
    sums = np.array([[0.0, 2.0, 3.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0, 0.0, 0.0]])
    counts = np.zeros((2, len(CAUSES)))
    counts[0, CAUSES.index("fn_missed")] = 3
    counts[:, CAUSES.index("fp_background")] = 2
    fixed = fixed_class_pq(sums, counts)
    assert fixed.shape == (len(FIXES), 2)
    assert fixed[FIXES.index("fn_missed"), 0] == 0.75
    assert fixed[FIXES.index("fp_background"), 0] == 0.0
    assert fixed[FIXES.index("fn_class"), 0] == 0.0
    assert math.isnan(fixed[FIXES.index("fp_background"), 1])
    assert fixed[FIXES.index("everything"), 0] == 1.0


def test_json_round_trip_and_merge(random_results: PanopticResults) -> None:
    data = random_results.to_json()
    again = PanopticResults.from_json(json.loads(json.dumps(data)))
    assert again.errors == random_results.errors
    assert list(data["errors"]["counts"]) == list(CAUSES)
    assert list(data["errors"]["delta_pq"]) == list(FIXES)
    broken = json.loads(json.dumps(data))
    cid = next(iter(broken["errors"]["per_class"]))
    broken["errors"]["per_class"][cid]["counts"]["fn_missed"] += 1
    with pytest.raises(ValueError, match="do not add up"):
        PanopticResults.from_json(broken)


def test_halves_merge_to_the_whole() -> None:
    gts, preds = random_dataset(seed=6, n=8)
    cats = CategorySet.from_coco(CATEGORIES)
    parts = [PanopticAccumulator(cats) for _ in range(3)]
    for k, (gt, pred) in enumerate(zip(gts, preds, strict=True)):
        for acc in (parts[0], parts[1 + (k >= 4)]):
            acc.update(
                from_segments(gt.ids, gt.segments, image_id=gt.image_id),
                from_segments(pred.ids, pred.segments, image_id=pred.image_id),
            )
    whole, first, second = parts
    merged, expected = first.merge(second).compute().errors, whole.compute().errors
    assert merged is not None
    assert expected is not None
    assert merged.per_image == expected.per_image  # each image's own state, unchanged
    # counts add exactly; the ΔPQ's come from IoU sums added in another order (last bits)
    for a, b in zip(
        (merged.overall, merged.things, merged.stuff, *merged.per_class),
        (expected.overall, expected.things, expected.stuff, *expected.per_class),
        strict=True,
    ):
        assert a.counts == b.counts
        assert a.delta_pq == pytest.approx(b.delta_pq, abs=1e-12, nan_ok=True)


def test_paired_interval_of_everything_mirrors_the_pq_difference() -> None:
    """Fixing everything gains 1 − PQ in every resample, so ΔPQ_everything(A) −
    ΔPQ_everything(B) = −(PQ(A) − PQ(B)) resample by resample: with the same seed (the same
    resamples as `paired_bootstrap`), its interval is the PQ difference's, negated."""
    gts, preds = random_dataset(seed=7, n=12)
    cats = CategorySet.from_coco(CATEGORIES)
    runs = []
    for mode in ("strict", "pixels"):
        acc = PanopticAccumulator(cats, mode=mode)  # type: ignore[arg-type]
        for gt, pred in zip(gts, preds, strict=True):
            acc.update(
                from_segments(gt.ids, gt.segments, image_id=gt.image_id),
                from_segments(pred.ids, pred.segments, image_id=pred.image_id),
            )
        runs.append(acc.compute())
    a, b = runs
    errors = compare_errors(a, b, n_samples=300, seed=4)
    pq = paired_bootstrap(a, b, n_samples=300, seed=4).pq
    everything = errors.difference["everything"]
    assert everything.estimate == pytest.approx(-pq.estimate, abs=1e-12)
    assert (everything.low, everything.high) == pytest.approx((-pq.high, -pq.low), abs=1e-12)
    same = compare_errors(a, a, n_samples=50, seed=1).difference
    assert all(same[f].low == same[f].high == 0.0 for f in FIXES if not math.isnan(same[f].low))


@pytest.mark.parametrize("bad", [-1, 2**64, 1.5, True, None])
def test_bad_counts_in_a_results_file_are_input_errors(
    random_results: PanopticResults, bad: object
) -> None:
    data = json.loads(json.dumps(random_results.to_json()))
    cid = next(iter(data["errors"]["per_class"]))
    data["errors"]["per_class"][cid]["counts"]["fn_missed"] = bad
    with pytest.raises(PanopticInputError, match=r"nowhere\.json: not a panoptic_metrics results"):
        PanopticResults.from_json(data, source="nowhere.json")
    data = json.loads(json.dumps(random_results.to_json()))
    row = next(r for r in data["per_image"] if r["errors"]["classes"])
    next(iter(row["errors"]["classes"].values()))[0] = bad
    with pytest.raises(PanopticInputError):
        PanopticResults.from_json(data, source="nowhere.json")
