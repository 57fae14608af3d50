"""The run-level entry: PQ/PQ†, mIoU and mask AP in one pass, in memory and from files.

Expected values: the three metrics computed apart by `PanopticAccumulator`, `MiouAccumulator`
and `MaskAP.from_coco_panoptic` (each checked against panopticapi, cityscapesscripts and
pycocotools in its own tests): one pass must give exactly what three passes give.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from panoptic_metrics import (
    CategorySet,
    MaskAP,
    MaskAPResult,
    MiouAccumulator,
    MiouResult,
    PanopticAccumulator,
    PanopticImage,
    PanopticInputError,
    RunAccumulator,
    RunResults,
    evaluate_run,
    load_coco_panoptic,
)
from panoptic_metrics.readers import pair_images

from tests.metrics.conftest import CocoSet
from tests.metrics.panoptic_data import assert_results_close
from tests.metrics.run_data import detections, semantic_map

Scene = list[tuple[PanopticImage, PanopticImage, dict[str, Any]]]


@pytest.fixture(scope="module")
def categories(realistic_set: CocoSet) -> CategorySet:
    gt = load_coco_panoptic(realistic_set.gt_json, realistic_set.gt_folder)
    assert gt.categories is not None
    return gt.categories


@pytest.fixture(scope="module")
def scene(realistic_set: CocoSet, categories: CategorySet) -> Scene:
    """The 19 realistic (gt, prediction) pairs in memory, with detections per image."""
    gt = load_coco_panoptic(realistic_set.gt_json, realistic_set.gt_folder)
    pred = load_coco_panoptic(realistic_set.pred_json, realistic_set.pred_folder)
    rng = np.random.default_rng(5)
    out = []
    for g, p in pair_images(gt.images, pred.images, gt_name="gt", pred_name="pred"):
        gt_image, pred_image = g.load(), p.load()
        out.append((gt_image, pred_image, detections(pred_image, categories, rng)))
    return out


def _update(run: RunAccumulator, gt: PanopticImage, pred: PanopticImage, det: Any) -> None:
    cats = run.categories
    semantic: dict[str, Any] = {}
    if run.miou is not None:
        semantic = {
            "gt_semantic": semantic_map(gt, cats),
            "pred_semantic": semantic_map(pred, cats),
        }
    run.update(gt, pred, **semantic, detections=det if run.mask_ap is not None else None)


def _full(categories: CategorySet, scene: Scene) -> RunAccumulator:
    run = RunAccumulator(categories, miou=True, mask_ap=True)
    for gt, pred, det in scene:
        _update(run, gt, pred, det)
    return run


def test_one_pass_equals_the_three_metrics_apart(
    realistic_set: CocoSet, categories: CategorySet, scene: Scene
) -> None:
    pq = PanopticAccumulator(categories)
    miou = MiouAccumulator(len(categories), category_ids=categories.contiguous_ids)
    ap = MaskAP.from_coco_panoptic(realistic_set.gt_json, realistic_set.gt_folder)
    for gt, pred, det in scene:
        pq.update(gt, pred)
        miou.update(semantic_map(gt, categories), semantic_map(pred, categories))
        ap.add_predictions(gt.image_id, **det)
    result = _full(categories, scene).compute()
    assert result.panoptic.to_json() == pq.compute().to_json()
    assert result.miou == miou.compute()
    assert result.mask_ap == ap.compute()
    # imperfect, not hopeless: the comparisons mean something
    assert result.miou is not None
    assert 0.2 < result.miou.miou < 0.95
    assert result.mask_ap is not None
    assert 0.05 < result.mask_ap.ap < 0.95
    assert result.mask_ap.n_crowd > 0  # crowd regions of the gt became crowd instances


def test_from_files_equals_in_memory_for_any_worker_count(
    realistic_set: CocoSet, categories: CategorySet, scene: Scene, tmp_path: Path
) -> None:
    run = RunAccumulator(categories, mask_ap=True)
    for gt, pred, det in scene:
        _update(run, gt, pred, det)
    assert run.mask_ap is not None
    run.mask_ap.write_predictions(tmp_path / "instances.json")
    expected = run.compute().to_json()
    for workers in (1, 2):
        from_files = evaluate_run(
            *realistic_set.args(),
            detections_json=tmp_path / "instances.json",
            workers=workers,
            progress=False,
        )
        assert from_files.to_json() == expected
    pq_only = evaluate_run(*realistic_set.args(), workers=1, progress=False)
    assert pq_only.mask_ap is None
    assert pq_only.panoptic.to_json() == run.panoptic.compute().to_json()


def test_metrics_json_has_the_keys_of_the_contract(
    categories: CategorySet, scene: Scene, tmp_path: Path
) -> None:
    result = _full(categories, scene).compute()
    result.write_json(tmp_path / "metrics.json", split="val", dataset="synthetic")
    data = json.loads((tmp_path / "metrics.json").read_text())
    # docs/contracts.md §3 (the evaluator's keys) and §4 (metrics.json adds these)
    section3 = {"pq", "sq", "rq", "pq_dagger", "things", "stuff", "per_class", "per_image"}
    section3 |= {"pq_at", "errors"}  # `groups` only when groups were given
    section4 = {"miou", "per_class_iou", "mask_ap", "split", "dataset"}
    assert set(data) == section3 | {"mode", "n_images"} | section4
    assert result.miou is not None
    assert result.mask_ap is not None
    assert data["miou"] == result.miou.miou
    assert list(data["per_class_iou"]) == [str(c) for c in categories.contiguous_ids]
    assert data["mask_ap"]["ap"] == result.mask_ap.ap
    assert (data["split"], data["dataset"]) == ("val", "synthetic")
    without = RunAccumulator(categories)
    gt, pred, _ = scene[0]
    without.update(gt, pred)
    assert {k: without.compute().to_json()[k] for k in ("miou", "per_class_iou", "mask_ap")} == {
        "miou": None,
        "per_class_iou": None,
        "mask_ap": None,
    }


def test_every_result_reads_back_from_its_json(categories: CategorySet, scene: Scene) -> None:
    result = _full(categories, scene).compute()
    assert result.miou is not None
    assert result.mask_ap is not None
    assert MiouResult.from_json(result.miou.to_json()) == result.miou
    assert MaskAPResult.from_json(result.mask_ap.to_json()) == result.mask_ap
    data = json.loads(json.dumps(result.to_json(), allow_nan=False))  # as metrics.json holds it
    again = RunResults.from_json(data, source="metrics.json")
    assert again.to_json() == data
    assert again.mask_ap == result.mask_ap
    # metrics.json keeps mIoU and the IoU of each class, not the pixel counts behind them
    ious = result.miou.miou, result.miou.per_class_iou, result.miou.category_ids
    assert again.miou == MiouResult(*ious)
    assert RunResults.from_json(again.to_json()).to_json() == data
    pq_only = RunResults.from_json(RunResults(result.panoptic).to_json())
    assert (pq_only.miou, pq_only.mask_ap) == (None, None)


def test_malformed_result_json_is_refused_naming_its_source(
    categories: CategorySet, scene: Scene
) -> None:
    result = _full(categories, scene).compute()
    assert result.miou is not None
    assert result.mask_ap is not None
    run, miou, ap = result.to_json(), result.miou.to_json(), result.mask_ap.to_json()
    no_crowd = {k: v for k, v in ap.items() if k != "n_crowd"}
    cases: list[tuple[Any, Any, str]] = [
        (RunResults, {k: v for k, v in run.items() if k != "mask_ap"}, "not a run's metrics .*"),
        (RunResults, run | {"per_class_iou": None}, "holds a miou but no per_class_iou"),
        (RunResults, run | {"mask_ap": ap | {"ap": "high"}}, "not a mask AP result .*'high'"),
        (MiouResult, miou | {"per_class_iou": {"9999": 0.5}}, r"not an mIoU result \(KeyError"),
        (MiouResult, miou | {"n_pixels": 3.0}, "not an mIoU result .*got 3.0"),
        (MaskAPResult, no_crowd, "not a mask AP result .*'n_crowd'"),
        (MaskAPResult, ap | {"per_class_ap": {"car": 0.5}}, "not a mask AP .*category id"),
    ]
    for kind, data, message in cases:
        with pytest.raises(PanopticInputError, match=rf"^bad\.json: {message}"):
            kind.from_json(data, source="bad.json")


def test_merge_of_halves_equals_the_whole(categories: CategorySet, scene: Scene) -> None:
    first = RunAccumulator(categories, miou=True, mask_ap=True)
    second = RunAccumulator(categories, miou=True, mask_ap=True)
    for k, (gt, pred, det) in enumerate(scene):
        _update(first if k < 7 else second, gt, pred, det)
    merged, whole = first.merge(second).compute(), _full(categories, scene).compute()
    assert_results_close(merged.panoptic, whole.panoptic)
    assert merged.panoptic.to_json()["per_image"] == whole.panoptic.to_json()["per_image"]
    assert (merged.miou, merged.mask_ap) == (whole.miou, whole.mask_ap)
    with pytest.raises(ValueError, match="computing the same metrics"):
        first.merge(RunAccumulator(categories))
    first.reset()
    assert first.n_images == 0


def test_bad_input_is_refused_and_changes_nothing(categories: CategorySet, scene: Scene) -> None:
    run = RunAccumulator(categories, miou=True, mask_ap=True)
    (gt, pred, det), (gt2, pred2, det2) = scene[0], scene[1]
    _update(run, gt, pred, det)
    before = run.compute().to_json()
    good = {"gt_semantic": semantic_map(gt2, categories)}
    good["pred_semantic"] = semantic_map(pred2, categories)
    wide = np.zeros((gt2.ids.shape[0], gt2.ids.shape[1] + 1), np.int64)
    cases: list[tuple[PanopticImage, dict[str, Any], str]] = [
        (gt2, {"detections": det2}, "mIoU is on: gt_semantic and pred_semantic needed"),
        (gt2, {**good, "gt_semantic": wide, "detections": det2}, "gt_semantic: has shape"),
        (gt2, {**good, "pred_semantic": good["pred_semantic"] + 40, "detections": det2}, "pred: "),
        (gt2, good, "mask AP is on: the detections are needed"),
        (gt2, {**good, "detections": {**det2, "labels": det2["labels"] + 9}}, "label 9"),
        (gt, {**good, "detections": det}, "already has predictions"),  # the same image again
    ]
    for image, inputs, message in cases:
        with pytest.raises(PanopticInputError, match=message):
            run.update(image, pred2 if image is gt2 else pred, **inputs)
        assert run.compute().to_json() == before
    no_id = PanopticImage(gt2.ids, gt2.segments)
    with pytest.raises(PanopticInputError, match="mask AP needs the image's image_id"):
        run.update(no_id, pred2, **good, detections=det2)
    pq_only = RunAccumulator(categories)
    with pytest.raises(ValueError, match="computes no mIoU"):
        pq_only.update(gt2, pred2, **good)
    with pytest.raises(ValueError, match="computes no mask AP"):
        pq_only.update(gt2, pred2, detections=det2)
    assert pq_only.n_images == 0
