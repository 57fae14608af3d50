"""PQ over IoU thresholds (`pq_at`, `--iou-threshold`) against vernier, run here.

vernier's panoptic `Evaluator(parity_mode="strict", pq_iou_threshold=t)` matches afresh at
IoU > t; ours derives every threshold from the one matching at 0.5. Every expected number
comes from vernier or from a constructed case whose counts are derived next to it.
Tolerance 1e-9 (float summation order).
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from panoptic_metrics import (
    IOU_THRESHOLDS,
    CategorySet,
    PanopticAccumulator,
    PanopticInputError,
    PanopticResults,
    evaluate_coco,
    from_segments,
    kernels,
)
from panoptic_metrics.cli import main
from panoptic_metrics.matching import FN, FP, ImageStats
from panoptic_metrics.thresholds import check_thresholds, threshold_sums

from tests.metrics.conftest import CocoSet
from tests.metrics.panoptic_data import CATEGORIES, finish, random_dataset, write_coco
from tests.metrics.peers import vernier_panoptic

TOL = 1e-9


@pytest.fixture(scope="module")
def random_results(random_set: CocoSet) -> PanopticResults:
    return evaluate_coco(*random_set.args(), workers=1, progress=False)


def _assert_equal_vernier(ours: PanopticResults, t: float, theirs: Any) -> None:
    at = ours.at(t)
    per_class = theirs.per_class()
    for c in at.per_class:
        if c.category.id not in per_class:  # vernier lists the classes of the data only
            assert (c.tp, c.fp, c.fn) == (0, 0, 0)
            assert math.isnan(c.pq)
            continue
        other = per_class[c.category.id]
        assert (c.tp, c.fp, c.fn) == (other.n_tp, other.n_fp, other.n_fn), (t, c.category)
        assert c.iou_sum == pytest.approx(other.iou_sum, abs=TOL), (t, c.category)
        if c.tp + c.fp + c.fn == 0:  # vernier reports 0 for a class with nothing; we: undefined
            assert math.isnan(c.pq)
            assert other.pq == 0.0
            continue
        for key in ("pq", "sq", "rq"):
            assert getattr(c, key) == pytest.approx(getattr(other, key), abs=TOL), (t, key)
    for scores, suffix, n in (
        (at.overall, "", theirs.n),
        (at.things, "_things", theirs.n_things),
        (at.stuff, "_stuff", theirs.n_stuff),
    ):
        for key in ("pq", "sq", "rq"):
            expected = getattr(theirs, key + suffix)
            assert getattr(scores, key) == pytest.approx(expected, abs=TOL), (t, key + suffix)
        assert scores.n == n


@pytest.mark.parametrize("t", IOU_THRESHOLDS)
def test_random_maps_equal_vernier_at_every_threshold(
    random_results: PanopticResults, random_set: CocoSet, t: float
) -> None:
    _assert_equal_vernier(random_results, t, vernier_panoptic(*random_set.args(), iou_threshold=t))


def test_the_ladder_has_something_to_show(random_results: PanopticResults) -> None:
    """The data moves matches across the ladder: TP falls, FP and FN rise, RQ falls."""
    tps = [sum(c.tp for c in r.per_class) for r in random_results.pq_at]
    assert tps[0] > 50
    assert tps[-1] < tps[0] // 2
    assert all(a >= b for a, b in itertools.pairwise(tps))
    assert random_results.at(0.95).rq < random_results.at(0.75).rq < random_results.rq


def test_realistic_scenes_equal_vernier(realistic_set: CocoSet) -> None:
    ours = evaluate_coco(*realistic_set.args(), workers=1, progress=False)
    for t in (0.5, 0.7, 0.85):
        _assert_equal_vernier(ours, t, vernier_panoptic(*realistic_set.args(), iou_threshold=t))


def test_a_threshold_off_the_ladder_equals_vernier(random_set: CocoSet) -> None:
    ours = evaluate_coco(*random_set.args(), workers=1, progress=False, iou_thresholds=(0.62,))
    assert ours.iou_thresholds == (0.62,)
    _assert_equal_vernier(ours, 0.62, vernier_panoptic(*random_set.args(), iou_threshold=0.62))


def test_at_05_is_the_plain_evaluation_bit_for_bit(random_results: PanopticResults) -> None:
    at = random_results.at(0.5)
    assert (at.pq, at.sq, at.rq) == (random_results.pq, random_results.sq, random_results.rq)
    assert (at.things.pq, at.stuff.pq) == (random_results.things.pq, random_results.stuff.pq)
    for a, c in zip(at.per_class, random_results.per_class, strict=True):
        assert (a.tp, a.fp, a.fn, a.iou_sum) == (c.tp, c.fp, c.fn, c.iou_sum)


def _one_image(
    gt: np.ndarray, pred: np.ndarray, gmeta: dict[int, tuple[int, int]], pmeta: dict[int, Any]
) -> tuple[Any, Any]:
    """A road band matched perfectly beside the case (vernier wants a stuff class present)."""
    gt, pred = np.pad(gt, ((0, 0), (0, 5))), np.pad(pred, ((0, 0), (0, 5)))
    gt[:, -5:], pred[:, -5:] = 900, 901
    return finish(0, gt, gmeta | {900: (3, 0)}), finish(0, pred, pmeta | {901: (3, 0)})


def _case_results(tmp_path: Path, gt: Any, pred: Any) -> tuple[PanopticResults, CocoSet]:
    data = CocoSet(
        *write_coco(tmp_path, "gt", [gt], CATEGORIES), *write_coco(tmp_path, "p", [pred], None)
    )
    return evaluate_coco(*data.args(), workers=1, progress=False), data


def test_a_dropped_match_keeps_the_void_exemption(tmp_path: Path) -> None:
    """A person of 60 px; the prediction covers 40 of them and 60 px of gt void: IoU = 40 /
    (100 + 60 - 40 - 60) = 2/3. Above 2/3 it is unmatched and more than half on void, so, as
    any unmatched prediction, it is no FP: one FN only (vernier counts the same)."""
    gt = np.zeros((10, 20), np.int64)
    gt[0:6, 0:10] = 1
    pred = np.zeros((10, 20), np.int64)
    pred[0:4, 0:10] = pred[6:10, 0:10] = pred[0:2, 10:20] = 5
    results, data = _case_results(tmp_path, *_one_image(gt, pred, {1: (21, 0)}, {5: (21, 0)}))
    person = next(c for c in results.at(0.65).per_class if c.category.id == 21)
    assert (person.tp, person.fp, person.fn, person.iou_sum) == (1, 0, 0, 40 / 60)
    person = next(c for c in results.at(0.7).per_class if c.category.id == 21)
    assert (person.tp, person.fp, person.fn, person.iou_sum) == (0, 0, 1, 0.0)
    _assert_equal_vernier(results, 0.7, vernier_panoptic(*data.args(), iou_threshold=0.7))


def test_a_dropped_match_is_one_fp_and_one_fn_and_the_threshold_is_strict(
    tmp_path: Path,
) -> None:
    """A person of 60 px predicted by 45 of them: IoU = 45 / 60 = 0.75 exactly, a TP at 0.7,
    and at 0.75 (IoU > t, strictly) one FN and one FP."""
    gt = np.zeros((10, 20), np.int64)
    gt[0:6, 0:10] = 1
    pred = np.zeros((10, 20), np.int64)
    pred[0:4, 0:10] = pred[4, 0:5] = 7
    results, data = _case_results(tmp_path, *_one_image(gt, pred, {1: (21, 0)}, {7: (21, 0)}))
    person = next(c for c in results.at(0.7).per_class if c.category.id == 21)
    assert (person.tp, person.fp, person.fn, person.iou_sum) == (1, 0, 0, 0.75)
    person = next(c for c in results.at(0.75).per_class if c.category.id == 21)
    assert (person.tp, person.fp, person.fn) == (0, 1, 1)
    _assert_equal_vernier(results, 0.75, vernier_panoptic(*data.args(), iou_threshold=0.75))


def test_one_matching_pass_per_image(random_set: CocoSet, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ladder comes from the 0.5 matching: the matching kernel runs once per image."""
    calls = []
    original = kernels.match_segments

    def counted(*args: Any) -> Any:
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(kernels, "match_segments", counted)
    results = evaluate_coco(*random_set.args(), workers=1, progress=False)
    assert len(results.pq_at) == 10
    assert len(calls) == results.n_images  # the first pair is the warm-up: no extra call


def test_workers_and_merge_give_the_same_ladder(
    random_set: CocoSet, random_results: PanopticResults
) -> None:
    parallel = evaluate_coco(*random_set.args(), workers=2, progress=False)
    assert parallel.to_json()["pq_at"] == random_results.to_json()["pq_at"]
    cats = CategorySet.from_coco(CATEGORIES)
    gts, preds = random_dataset(seed=0, n=24)
    whole, first, second = (PanopticAccumulator(cats) for _ in range(3))
    for k, (g, p) in enumerate(zip(gts, preds, strict=True)):
        pair = (from_segments(g.ids, g.segments), from_segments(p.ids, p.segments))
        whole.update(*pair)
        (first if k < 12 else second).update(*pair)
    merged = first.merge(second)
    assert np.array_equal(merged.ladder[..., :3], whole.ladder[..., :3])  # the counts
    np.testing.assert_allclose(merged.ladder, whole.ladder, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="thresholds"):
        whole.merge(PanopticAccumulator(cats, iou_thresholds=(0.5,)))


@pytest.mark.parametrize("bad", [(0.45,), (1.0,), (math.nan,), ()])
def test_thresholds_outside_05_to_1_are_refused(bad: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="threshold"):
        PanopticAccumulator(CategorySet.from_coco(CATEGORIES), iou_thresholds=bad)


def test_json_round_trip_and_files_without_pq_at(random_results: PanopticResults) -> None:
    data = json.loads(json.dumps(random_results.to_json()))
    assert list(data["pq_at"]) == ["0.5", "0.55", "0.6", "0.65", "0.7", "0.75", "0.8", "0.85",
                                   "0.9", "0.95"]  # fmt: skip
    entry = data["pq_at"]["0.75"]
    assert entry["pq"] == random_results.at(0.75).pq
    assert list(entry) == ["pq", "sq", "rq", "n", "things", "stuff", "per_class"]
    again = PanopticResults.from_json(data)
    assert again.to_json() == data
    older = {k: v for k, v in data.items() if k != "pq_at"}
    read = PanopticResults.from_json(older)
    assert read.pq_at == ()
    assert read.to_json() == older
    with pytest.raises(ValueError, match=r"no results at IoU threshold 0\.75"):
        read.at(0.75)


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda d: d["pq_at"].pop("0.5") and None, None),  # fewer thresholds: still fine
        (lambda d: d["pq_at"].update({"0.3": d["pq_at"]["0.5"]}), "thresholds"),
        (lambda d: d["pq_at"]["0.6"]["per_class"].pop("21"), "KeyError"),
        (lambda d: d["pq_at"]["0.6"]["per_class"]["21"].update(tp=-1), "negative or bad"),
        (lambda d: d["pq_at"]["0.6"]["per_class"]["21"].update(iou_sum="x"), "number"),
    ],
)
def test_malformed_pq_at_names_the_file(
    random_results: PanopticResults, edit: Any, problem: str | None
) -> None:
    data = json.loads(json.dumps(random_results.to_json()))
    edit(data)
    if problem is None:
        assert PanopticResults.from_json(data).iou_thresholds == IOU_THRESHOLDS[1:]
        return
    with pytest.raises(PanopticInputError, match=f"bad.json: .*{problem}"):
        PanopticResults.from_json(data, source="bad.json")


def test_cli_iou_threshold_prints_and_writes_it(
    random_set: CocoSet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    args = ["evaluate", "--gt-json", str(random_set.gt_json), "--gt-folder"]
    args += [str(random_set.gt_folder), "--pred-json", str(random_set.pred_json)]
    args += ["--pred-folder", str(random_set.pred_folder), "--no-progress", "--workers", "1"]
    assert main([*args, "--iou-threshold", "0.62", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    expected = evaluate_coco(
        *random_set.args(), workers=1, progress=False, iou_thresholds=(*IOU_THRESHOLDS, 0.62)
    )
    assert "IoU > 0.62" in printed
    at = expected.at(0.62)
    line = [s for s in printed.splitlines() if s.startswith("All") and "IoU" not in s][-1]
    assert line.split("|")[1].split()[:3] == [f"{100 * v:.2f}" for v in (at.pq, at.sq, at.rq)]
    assert json.loads(out.read_text()) == expected.to_json()
    assert "0.62" in json.loads(out.read_text())["pq_at"]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--iou-threshold", "0.4"])
    assert exit_info.value.code == 2
    assert "must be in [0.5, 1)" in capsys.readouterr().err


def _ladder_pair_by_pair(stats: ImageStats, thresholds: tuple[float, ...]) -> np.ndarray:
    """The definition of `threshold_sums`, written pair by pair in plain Python: every
    (class, threshold) cell starts from the image's FP and FN; each match, in the matching's
    order, counts as a TP with its IoU added where IoU > t, else as one FN and (unless
    exempt) one FP."""
    classes = stats.classes.tolist()
    out = np.zeros((len(classes), len(thresholds), 4))
    for r in range(len(classes)):
        for level in range(len(thresholds)):
            tp, fp, fn, iou_sum = 0.0, float(stats.sums[r, FP]), float(stats.sums[r, FN]), 0.0
            pairs = zip(
                stats.pair_class.tolist(), stats.pair_iou.tolist(), stats.pair_exempt, strict=True
            )
            for cls, iou, exempt in pairs:
                if cls != classes[r]:
                    continue
                if iou > thresholds[level]:
                    tp, iou_sum = tp + 1, iou_sum + iou
                else:
                    fn, fp = fn + 1, fp + (0 if exempt else 1)
            out[r, level] = (tp, fp, fn, iou_sum)
    return out


@settings(max_examples=150, deadline=None)
@given(
    classes=st.lists(st.integers(0, 6), min_size=1, max_size=5, unique=True),
    pairs=st.lists(
        st.tuples(st.integers(0, 4), st.floats(0.5, 1.0, exclude_min=True), st.booleans()),
        max_size=12,
    ),
    extra=st.lists(st.floats(0.5, 0.99), max_size=3),
)
def test_threshold_sums_equal_the_pair_by_pair_definition_bit_for_bit(
    classes: list[int], pairs: list[tuple[int, float, bool]], extra: list[float]
) -> None:
    classes = sorted(classes)
    k = len(classes)
    sums = np.zeros((k, 6))
    sums[:, FP] = np.arange(k) % 3
    sums[:, FN] = np.arange(k) % 2
    owned = [(classes[c % k], iou, exempt) for c, iou, exempt in pairs]
    stats = ImageStats(
        image_id=1,
        classes=np.array(classes, dtype=np.int64),
        sums=sums,
        hist_class=np.zeros(0, np.int64),
        hist_bin=np.zeros(0, np.int64),
        pair_class=np.array([c for c, _, _ in owned], dtype=np.int64),
        pair_iou=np.array([iou for _, iou, _ in owned], dtype=np.float64),
        pair_exempt=np.array([e for _, _, e in owned], dtype=np.bool_),
    )
    thresholds = check_thresholds((*IOU_THRESHOLDS, *extra))
    got = threshold_sums(stats, thresholds)
    expected = _ladder_pair_by_pair(stats, thresholds)
    assert got.tobytes() == expected.tobytes()  # every bit, the IoU sums included
