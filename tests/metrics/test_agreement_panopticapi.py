"""Strict mode against panopticapi and cityscapesscripts, run here on the same files.

Both peers are run in this test (panopticapi's per-image function for the raw per-class
counts, its `pq_compute` and cityscapesscripts' `evaluatePanoptic` end to end for the
averages); every expected number comes from them. Tolerance 1e-9 (float summation order).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from panoptic_metrics import PanopticInputError, PanopticResults, evaluate_coco

from tests.metrics.conftest import CocoSet
from tests.metrics.panoptic_data import CATEGORIES, random_dataset, write_coco
from tests.metrics.peers import cityscapes_evaluate, panopticapi_pq_compute, panopticapi_stats

TOL = 1e-9


def _ours(data: CocoSet, mode: str = "strict") -> PanopticResults:
    return evaluate_coco(*data.args(), mode=mode, workers=1, progress=False)


def _assert_counts_equal(ours: PanopticResults, stat: Any, categories: dict[int, Any]) -> None:
    for c in ours.per_class:
        theirs = stat[c.category.id]
        assert (c.tp, c.fp, c.fn) == (theirs.tp, theirs.fp, theirs.fn), c.category
        assert c.iou_sum == pytest.approx(theirs.iou, abs=TOL), c.category
    assert {c.category.id for c in ours.per_class} == set(categories)


def _assert_averages_equal(ours: PanopticResults, theirs: dict[str, Any]) -> None:
    for name, q in (("All", ours.overall), ("Things", ours.things), ("Stuff", ours.stuff)):
        for key in ("pq", "sq", "rq"):
            assert getattr(q, key) == pytest.approx(theirs[name][key], abs=TOL), (name, key)
        assert q.n == theirs[name]["n"], name
    for c in ours.per_class:
        other = theirs["per_class"][c.category.id]
        if c.tp + c.fp + c.fn == 0:  # panopticapi reports 0; we report "undefined"
            assert math.isnan(c.pq)
            assert other == {"pq": 0.0, "sq": 0.0, "rq": 0.0}
            continue
        for key in ("pq", "sq", "rq"):
            assert getattr(c, key) == pytest.approx(other[key], abs=TOL), (c.category, key)


def test_random_maps_counts_and_scores_equal_panopticapi(random_set: CocoSet) -> None:
    ours = _ours(random_set)
    stat, categories = panopticapi_stats(*random_set.args())
    _assert_counts_equal(ours, stat, categories)
    results: dict[str, Any] = {}
    for name, isthing in (("All", None), ("Things", True), ("Stuff", False)):
        results[name], per_class = stat.pq_average(categories, isthing=isthing)
        if isthing is None:
            results["per_class"] = per_class
    _assert_averages_equal(ours, results)
    # the data exercises what it should: matches, misses, exemptions and undefined classes
    assert sum(c.tp for c in ours.per_class) > 50
    assert sum(c.fp for c in ours.per_class) > 10
    assert sum(c.fn for c in ours.per_class) > 10


@pytest.mark.slow
def test_pq_compute_end_to_end_equals_strict_mode(random_set: CocoSet) -> None:
    _assert_averages_equal(_ours(random_set), panopticapi_pq_compute(*random_set.args()))


def test_json_areas_are_what_strict_mode_uses(tmp_path: Path) -> None:
    """panopticapi takes the gt area from the JSON: with wrong JSON areas strict mode still
    agrees with it, while the pixels mode (true areas) does not."""
    gts, preds = random_dataset(seed=5, n=12)
    rng = np.random.default_rng(1)
    for gt in gts:
        for seg in gt.segments:
            seg["area"] = max(1, int(seg["area"] * rng.uniform(0.6, 1.6)))
    data = CocoSet(
        *write_coco(tmp_path, "gt", gts, CATEGORIES), *write_coco(tmp_path, "p", preds, None)
    )
    ours = _ours(data)
    stat, categories = panopticapi_stats(*data.args())
    _assert_counts_equal(ours, stat, categories)
    pixels = _ours(data, mode="pixels")
    assert [(c.tp, c.iou_sum) for c in pixels.per_class] != [
        (c.tp, c.iou_sum) for c in ours.per_class
    ]


def test_realistic_scenes_equal_panopticapi_and_cityscapesscripts(
    realistic_set: CocoSet, tmp_path: Path
) -> None:
    ours = _ours(realistic_set)
    stat, categories = panopticapi_stats(*realistic_set.args())
    _assert_counts_equal(ours, stat, categories)
    cityscapes = cityscapes_evaluate(*realistic_set.args(), tmp_path / "cs.json")
    _assert_averages_equal(ours, cityscapes)
    assert 0.2 < ours.pq < 0.95  # a realistic, imperfect prediction
    assert any(c.fp for c in ours.per_class)
    assert any(c.fn for c in ours.per_class)


def test_unknown_prediction_id_refused_like_panopticapi(
    random_set: CocoSet, tmp_path: Path
) -> None:
    """panopticapi raises KeyError for a PNG id missing from the JSON; we raise a clear error
    naming the file. (For the ground truth panopticapi silently skips such ids; we refuse.)"""
    pred = json.loads(random_set.pred_json.read_text())
    victim = pred["annotations"][0]
    victim["segments_info"] = victim["segments_info"][1:]
    broken = tmp_path / "pred.json"
    broken.write_text(json.dumps(pred))
    args = (random_set.gt_json, random_set.gt_folder, broken, random_set.pred_folder)
    with pytest.raises(KeyError, match="presented in PNG and not presented in JSON"):
        panopticapi_stats(*args)
    with pytest.raises(PanopticInputError, match="is in the PNG but not in the JSON") as err:
        evaluate_coco(*args, workers=1, progress=False)
    assert victim["file_name"] in str(err.value)
