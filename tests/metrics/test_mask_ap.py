"""Mask AP: our wrapper against pycocotools run directly on hand-built COCO JSON and against
torchmetrics' MeanAveragePrecision, COCO-panoptic ground truth against the Cityscapes
instanceIds of the same images, and properties."""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from panoptic_metrics import PanopticInputError
from panoptic_metrics.mask_ap import MaskAP
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from reference_model.synthetic import THINGS
from tests.metrics.mask_ap_scenes import (
    CATEGORY_IDS,
    STATS,
    assert_matches,
    detections_of,
    encode_rle,
    instances_from_instance_ids,
    ours,
    pycocotools_reference,
    scene,
)


def test_agrees_with_pycocotools_on_hand_built_coco_json(tmp_path: Path) -> None:
    images = scene(0)
    result = ours(images).compute()
    stats, per_class = pycocotools_reference(images, tmp_path)
    assert_matches(result, stats, per_class)
    assert 0.2 < result.ap < 0.95  # imperfect, not hopeless: the comparison means something
    assert math.isnan(result.per_class_ap[2])  # category 33 has no ground truth
    assert not math.isnan(result.ap_small)
    assert not math.isnan(result.ap_large)
    n_crowd = sum(int(i["gt"]["iscrowd"].sum()) for i in images)
    n_gt = sum(len(i["gt"]["labels"]) for i in images)
    assert (result.n_crowd, result.n_ground_truth) == (n_crowd, n_gt - n_crowd)
    assert result.n_predictions == sum(len(i["pred"]["labels"]) for i in images)
    assert result.n_images == 6


def _torchmetrics_map(images: list[dict[str, Any]]) -> dict[str, Any]:
    import torch
    from torchmetrics.detection import MeanAveragePrecision

    reference = MeanAveragePrecision(iou_type="segm", class_metrics=True, backend="pycocotools")
    ids = torch.tensor(CATEGORY_IDS)
    for image in images:
        pred, gt = image["pred"], image["gt"]
        prediction = {
            "masks": torch.from_numpy(pred["masks"]),
            "scores": torch.from_numpy(pred["scores"]).float(),
            "labels": ids[torch.from_numpy(pred["labels"])],
        }
        target = {
            "masks": torch.from_numpy(gt["masks"]),
            "labels": ids[torch.from_numpy(gt["labels"])],
            "iscrowd": torch.from_numpy(gt["iscrowd"]).long(),
        }
        reference.update([prediction], [target])
    return reference.compute()  # type: ignore[no-any-return]


@pytest.mark.needs_torch
def test_agrees_with_torchmetrics_mean_average_precision() -> None:
    """torchmetrics (1.9, segm) leaves out of its COCO ground truth every image without a
    ground-truth mask, so the false positives on such images count for nothing there; COCO
    (pycocotools, and we) count them. On the images that have ground truth both agree."""
    images = scene(1)
    assert len(images[2]["gt"]["labels"]) == 0
    assert len(images[2]["pred"]["labels"]) > 0  # false positives on an image without gt
    expected = _torchmetrics_map(images)
    with_gt = [image for image in images if len(image["gt"]["labels"])]
    result = ours(with_gt).compute()
    names = ("map", "map_50", "map_75", "map_small", "map_medium", "map_large")
    names += ("mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large")
    for ours_key, key in zip(STATS, names, strict=True):
        value = float(expected[key])
        want = math.nan if value < 0 else value
        assert getattr(result, ours_key) == pytest.approx(want, abs=1e-6, nan_ok=True), key
    # torchmetrics lists only the classes it saw (24, 26 in gt; 33 only in predictions)
    classes = expected["classes"].tolist()
    per_class = dict(zip(classes, expected["map_per_class"].tolist(), strict=True))
    for category, ap in zip(CATEGORY_IDS, result.per_class_ap, strict=True):
        want = per_class.get(category, -1.0)
        assert ap == pytest.approx(math.nan if want < 0 else want, abs=1e-6, nan_ok=True)
    assert ours(images).compute().ap < result.ap  # COCO counts those false positives


# ---- COCO-panoptic ground truth -----------------------------------------------------------


def test_coco_panoptic_ground_truth_equals_the_cityscapes_instances(synthetic_root: Path) -> None:
    json_path = synthetic_root / "gtFine" / "cityscapes_panoptic_val.json"
    folder = synthetic_root / "gtFine" / "cityscapes_panoptic_val"
    from_panoptic = MaskAP.from_coco_panoptic(json_path, folder)
    assert from_panoptic.category_ids == tuple(c.label_id for c in THINGS)
    in_memory = MaskAP(from_panoptic.category_ids)
    perfect = MaskAP.from_coco_panoptic(json_path, folder)
    rng = np.random.default_rng(3)
    paths = sorted((synthetic_root / "gtFine" / "val").rglob("*_gtFine_instanceIds.png"))
    assert len(paths) == 19
    for path in paths:
        image_id = path.name.removesuffix("_gtFine_instanceIds.png")
        gt = instances_from_instance_ids(path)
        pred = detections_of(rng, gt)
        pred["labels"] = np.clip(pred["labels"], 0, len(THINGS) - 1)
        in_memory.update(image_id, pred, gt)
        from_panoptic.add_predictions(image_id, **pred)
        keep = ~gt["iscrowd"]
        perfect.add_predictions(
            image_id, masks=gt["masks"][keep], labels=gt["labels"][keep], scores=np.ones(keep.sum())
        )
    expected = in_memory.compute()
    assert from_panoptic.compute() == expected
    assert expected.n_crowd > 0
    assert expected.n_ground_truth > 50
    assert perfect.compute().ap == pytest.approx(1.0, abs=1e-12)


# ---- properties ---------------------------------------------------------------------------


def test_perfect_predictions_give_one_and_wrong_categories_give_zero() -> None:
    images = scene(7)
    perfect, wrong = MaskAP(CATEGORY_IDS), MaskAP(CATEGORY_IDS)
    for image in images:
        gt = image["gt"]
        keep = ~gt["iscrowd"]
        pred = {"masks": gt["masks"][keep], "labels": gt["labels"][keep]}
        pred["scores"] = np.linspace(1, 0.5, int(keep.sum()))
        perfect.update(image["image_id"], pred, gt)
        # every detection on category 33, which has no ground truth
        wrong.update(image["image_id"], {**pred, "labels": np.full_like(pred["labels"], 2)}, gt)
    assert perfect.compute().ap == pytest.approx(1.0, abs=1e-12)
    assert all(ap == pytest.approx(1.0, abs=1e-12) for ap in perfect.compute().per_class_ap[:2])
    assert wrong.compute().ap == 0.0
    assert wrong.compute().per_class_ap[:2] == (0.0, 0.0)


def test_merge_of_halves_equals_the_whole_and_compute_is_pure() -> None:
    images = scene(8, n_images=8)
    whole = ours(images)
    first, second = ours(images[::2]), ours(images[1::2])
    assert first.merge(second) is first
    # COCOeval numbers images in insertion order; the result does not depend on it
    assert first.compute() == whole.compute() == whole.compute()
    separate = MaskAP(CATEGORY_IDS)
    for image in images:  # ground truth first for all, then predictions
        separate.add_ground_truth(image["image_id"], **image["gt"])
    for image in images[::-1]:
        separate.add_predictions(image["image_id"], **image["pred"])
    assert separate.compute() == whole.compute()
    whole.reset()
    with pytest.warns(RuntimeWarning, match="mask AP is NaN"):
        assert math.isnan(whole.compute().ap)


def test_processes_holding_the_same_panoptic_ground_truth_merge(synthetic_root: Path) -> None:
    """Each process loads the whole ground truth and predicts a shard: merging them equals
    one process that predicted everything."""
    json_path = synthetic_root / "gtFine" / "cityscapes_panoptic_val.json"
    folder = synthetic_root / "gtFine" / "cityscapes_panoptic_val"
    whole, first, second = (MaskAP.from_coco_panoptic(json_path, folder) for _ in range(3))
    rng = np.random.default_rng(14)
    paths = sorted((synthetic_root / "gtFine" / "val").rglob("*_gtFine_instanceIds.png"))
    for k, path in enumerate(paths):
        image_id = path.name.removesuffix("_gtFine_instanceIds.png")
        pred = detections_of(rng, instances_from_instance_ids(path))
        pred["labels"] = np.clip(pred["labels"], 0, len(THINGS) - 1)
        whole.add_predictions(image_id, **pred)
        (first if k % 2 else second).add_predictions(image_id, **pred)
    assert first.merge(second).compute() == whole.compute()
    other = MaskAP(whole.category_ids)
    masks = np.zeros((1, 64, 128), dtype=bool)
    other.add_ground_truth(image_id, masks=masks, labels=[0])
    with pytest.raises(
        PanopticInputError, match=r"image 'synthval_000018.*: the accumulators hold different"
    ):
        whole.merge(other)


def test_numpy_integer_image_ids_become_ints(tmp_path: Path) -> None:
    image = scene(15, n_images=1)[0]
    acc = MaskAP(CATEGORY_IDS)
    acc.update(np.int64(3), image["pred"], image["gt"])
    acc.write_predictions(tmp_path / "r.json")
    assert {e["image_id"] for e in json.loads((tmp_path / "r.json").read_text())} == {3}
    with pytest.raises(PanopticInputError, match="image_id must be an integer or a string"):
        acc.update(3.0, image["pred"])  # type: ignore[arg-type]


def test_results_to_json_is_strict_json_with_null_for_nan() -> None:
    result = ours(scene(9, n_images=2)).compute()
    data = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert set(data) == {*STATS, "per_class_ap", "max_detections", "n_images", "n_predictions"} | {
        "n_ground_truth",
        "n_crowd",
    }
    assert data["per_class_ap"]["33"] is None
    assert data["ap"] == result.ap


def test_max_detections_is_used_for_every_number_unlike_pycocotools_summarize(
    tmp_path: Path,
) -> None:
    """14 exact detections of 14 ground-truth squares, at most 10 kept: precision 1 up to
    recall 10/14 = 0.714, so AP = (recall thresholds 0.00..0.71: 72 of 101) = 72/101 at every
    IoU threshold, and AR = 10/14. pycocotools' own summarize reports AP at 100 detections
    whatever maxDets says, hence -1 there; its AP50 (at maxDets[2]) agrees with ours."""
    masks = np.zeros((14, 40, 80), dtype=bool)
    for k in range(14):
        masks[k, (k // 7) * 20 : (k // 7) * 20 + 12, (k % 7) * 11 : (k % 7) * 11 + 9] = True
    gt = {"masks": masks, "labels": np.zeros(14, np.int64), "iscrowd": np.zeros(14, bool)}
    pred = {"masks": masks, "labels": np.zeros(14, np.int64), "scores": np.linspace(1, 0.3, 14)}
    images = [{"image_id": 1, "gt": gt, "pred": pred}]
    few, many = ours(images, max_detections=10).compute(), ours(images).compute()
    assert few.ap == pytest.approx(72 / 101, abs=1e-12)
    assert few.ap50 == few.ap75 == few.ap
    assert few.ar_max == pytest.approx(10 / 14, abs=1e-12)
    assert many.ap == pytest.approx(1.0, abs=1e-12)
    assert few.max_detections == 10
    pycocotools_reference(images, tmp_path)  # writes gt.json
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(tmp_path / "gt.json"))
        dets = [
            {"image_id": 1, "category_id": 24, "segmentation": encode_rle(m), "score": float(s)}
            for m, s in zip(masks, pred["scores"], strict=True)
        ]
        evaluator = COCOeval(coco_gt, coco_gt.loadRes(dets), iouType="segm")
        evaluator.params.maxDets = [1, 10, 10]
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    assert evaluator.stats[0] == -1
    assert evaluator.stats[1] == pytest.approx(few.ap50, abs=1e-12)


@pytest.mark.needs_torch
def test_torch_tensors_are_accepted() -> None:
    import torch

    image = scene(11, n_images=1)[0]
    expected = ours([image]).compute()
    acc = MaskAP(CATEGORY_IDS)
    acc.update(
        image["image_id"],
        {k: torch.from_numpy(np.asarray(v)) for k, v in image["pred"].items()},
        {k: torch.from_numpy(np.asarray(v)) for k, v in image["gt"].items()},
    )
    assert acc.compute() == expected
