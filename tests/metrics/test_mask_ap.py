"""Mask AP: our wrapper against pycocotools run directly on hand-built COCO JSON and against
torchmetrics' MeanAveragePrecision; COCO-panoptic ground truth against the Cityscapes
instanceIds of the same images; the COCO results JSON; properties; bad input."""

from __future__ import annotations

import contextlib
import io
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from panoptic_metrics.coco_instances import rle_counts_kernel, rle_counts_python
from panoptic_metrics.mask_ap import MaskAP, MaskAPResult
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from reference_model.synthetic import THINGS

CATEGORY_IDS = (24, 26, 33)  # person, car, bicycle: label k is category CATEGORY_IDS[k]
STATS = ("ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large")
STATS += ("ar_1", "ar_10", "ar_max", "ar_small", "ar_medium", "ar_large")


# ---- a small seeded scene: ground truth and imperfect detections ---------------------------


def _blob(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """An ellipse or a rectangle, sizes from small to large (COCO's 32^2 and 96^2 ranges)."""
    yy, xx = np.mgrid[:h, :w]
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    ry, rx = rng.uniform(3, h / 2.5), rng.uniform(3, w / 2.5)
    if rng.random() < 0.5:
        return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    return (abs(yy - cy) <= ry) & (abs(xx - cx) <= rx)


def _detections_of(rng: np.random.Generator, gt: dict[str, Any]) -> dict[str, Any]:
    """Shifted copies of most gt masks (some with the wrong label), plus false positives."""
    masks, labels = [], []
    for mask, label in zip(gt["masks"], gt["labels"], strict=True):
        if rng.random() < 0.2:
            continue  # missed
        dy, dx = rng.integers(-4, 5, size=2)
        masks.append(np.roll(mask, (int(dy), int(dx)), axis=(0, 1)))
        labels.append(int(label) if rng.random() < 0.85 else int(rng.integers(0, 3)))
    for _ in range(int(rng.integers(0, 4))):
        masks.append(_blob(rng, *gt["masks"].shape[1:]))
        labels.append(int(rng.integers(0, 3)))
    shape = (0, *gt["masks"].shape[1:])
    return {
        "masks": np.stack(masks) if masks else np.zeros(shape, dtype=bool),
        "labels": np.array(labels, dtype=np.int64),
        "scores": rng.random(len(labels)),
    }


def _scene(seed: int, n_images: int = 6, h: int = 120, w: int = 200) -> list[dict[str, Any]]:
    """Images with ground truth (including crowd) and detections; image 1 has no detection,
    image 2 no ground-truth instance, and category 33 (label 2) has no ground truth at all."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n_images):
        n = 0 if i == 2 else int(rng.integers(2, 7))
        masks = np.stack([_blob(rng, h, w) for _ in range(n)]) if n else np.zeros((0, h, w), bool)
        gt = {
            "masks": masks,
            "labels": rng.integers(0, 2, size=n),
            "iscrowd": rng.random(n) < 0.15,
        }
        pred = _detections_of(rng, gt)
        if i == 1:
            pred = {k: v[:0] for k, v in pred.items()}
        images.append({"image_id": f"img{i:02d}", "gt": gt, "pred": pred})
    return images


def _ours(images: list[dict[str, Any]], **kwargs: Any) -> MaskAP:
    acc = MaskAP(CATEGORY_IDS, **kwargs)
    for image in images:
        acc.update(image["image_id"], image["pred"], image["gt"])
    return acc


# ---- pycocotools run directly on hand-built COCO JSON ---------------------------------------


def _rle(mask: np.ndarray) -> dict[str, Any]:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def _pycocotools_reference(
    images: list[dict[str, Any]], tmp_path: Path, results: str | list[dict[str, Any]] | None = None
) -> tuple[np.ndarray, list[float]]:
    """COCOeval on a GT JSON file written here; returns its stats and per-category AP."""
    gt_json: dict[str, Any] = {"images": [], "annotations": [], "categories": []}
    gt_json["categories"] = [{"id": c, "name": str(c)} for c in CATEGORY_IDS]
    dets = []
    for number, image in enumerate(images, start=1):
        h, w = image["gt"]["masks"].shape[1:]
        gt_json["images"].append({"id": number, "height": h, "width": w, "file_name": "x.png"})
        gt = image["gt"]
        for mask, label, crowd in zip(gt["masks"], gt["labels"], gt["iscrowd"], strict=True):
            rle = _rle(mask)
            gt_json["annotations"].append(
                {
                    "id": len(gt_json["annotations"]) + 1,
                    "image_id": number,
                    "category_id": CATEGORY_IDS[label],
                    "segmentation": rle,
                    "area": int(mask.sum()),
                    "bbox": list(mask_utils.toBbox(rle)),
                    "iscrowd": int(crowd),
                }
            )
        pred = image["pred"]
        for mask, label, score in zip(pred["masks"], pred["labels"], pred["scores"], strict=True):
            dets.append(
                {
                    "image_id": number,
                    "category_id": CATEGORY_IDS[label],
                    "segmentation": _rle(mask),
                    "score": float(score),
                }
            )
    (tmp_path / "gt.json").write_text(json.dumps(gt_json))
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(tmp_path / "gt.json"))
        coco_dt = coco_gt.loadRes(dets if results is None else results)
        evaluator = COCOeval(coco_gt, coco_dt, iouType="segm")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    precision = evaluator.eval["precision"]
    per_class = []
    for k in range(len(CATEGORY_IDS)):
        p = precision[:, :, k, 0, -1]
        per_class.append(float(p[p > -1].mean()) if (p > -1).any() else math.nan)
    return evaluator.stats, per_class


def _assert_matches(result: MaskAPResult, stats: np.ndarray, per_class: list[float]) -> None:
    ours = [getattr(result, key) for key in STATS]
    expected = [math.nan if s < 0 else s for s in stats]
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.per_class_ap, per_class, rtol=0, atol=1e-12)


def test_agrees_with_pycocotools_on_hand_built_coco_json(tmp_path: Path) -> None:
    images = _scene(0)
    result = _ours(images).compute()
    stats, per_class = _pycocotools_reference(images, tmp_path)
    _assert_matches(result, stats, per_class)
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
    images = _scene(1)
    assert len(images[2]["gt"]["labels"]) == 0
    assert len(images[2]["pred"]["labels"]) > 0  # false positives on an image without gt
    expected = _torchmetrics_map(images)
    with_gt = [image for image in images if len(image["gt"]["labels"])]
    result = _ours(with_gt).compute()
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
    assert _ours(images).compute().ap < result.ap  # COCO counts those false positives


# ---- COCO-panoptic ground truth -----------------------------------------------------------


def _instances_from_instance_ids(path: Path) -> dict[str, Any]:
    """Thing instances from a Cityscapes *_gtFine_instanceIds.png, read independently of the
    panoptic files: ids >= 1000 are instances of class id // 1000, thing ids < 1000 crowds."""
    ids = np.asarray(Image.open(path)).astype(np.int64)
    thing_ids = [c.label_id for c in THINGS]
    masks, labels, crowd = [], [], []
    for value in np.unique(ids).tolist():
        label_id = value // 1000 if value >= 1000 else value
        if label_id in thing_ids:
            masks.append(ids == value)
            labels.append(thing_ids.index(label_id))
            crowd.append(value < 1000)
    return {
        "masks": np.stack(masks) if masks else np.zeros((0, *ids.shape), dtype=bool),
        "labels": np.array(labels, dtype=np.int64),
        "iscrowd": np.array(crowd, dtype=bool),
    }


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
        gt = _instances_from_instance_ids(path)
        pred = _detections_of(rng, gt)
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


def _panoptic_case(
    tmp_path: Path, segments: list[dict[str, Any]], file_name: str = "a.png"
) -> Path:
    ids = np.zeros((4, 6), dtype=np.uint32)
    ids[:2, :3] = 1
    ids[2:, 3:] = 300  # an id needing two bytes: (44, 1, 0)
    rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1).astype(np.uint8)
    (tmp_path / "png").mkdir(exist_ok=True)
    Image.fromarray(rgb).save(tmp_path / "png" / "a.png")
    data = {
        "images": [{"id": 7, "height": 4, "width": 6, "file_name": "a.jpg"}],
        "annotations": [{"image_id": 7, "file_name": file_name, "segments_info": segments}],
        "categories": [
            {"id": 1, "name": "road", "isthing": 0},
            {"id": 2, "name": "car", "isthing": 1},
        ],
    }
    (tmp_path / "gt.json").write_text(json.dumps(data))
    return tmp_path / "gt.json"


GOOD_SEGMENTS = [
    {"id": 1, "category_id": 2, "iscrowd": 0},
    {"id": 300, "category_id": 2, "iscrowd": 1},
]


def test_coco_panoptic_crowd_segments_become_crowd_instances(tmp_path: Path) -> None:
    json_path = _panoptic_case(tmp_path, GOOD_SEGMENTS)
    acc = MaskAP.from_coco_panoptic(json_path, tmp_path / "png")
    mask = np.zeros((1, 4, 6), dtype=bool)
    mask[0, :2, :3] = True
    acc.add_predictions(7, masks=mask, labels=[0], scores=[0.5])
    # the crowd region is matched by nothing and penalises nothing: one TP, AP 1
    result = acc.compute()
    assert (result.n_ground_truth, result.n_crowd) == (1, 1)
    assert result.ap == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    ("segments", "file_name", "message"),
    [
        (GOOD_SEGMENTS, "../a.png", "points outside"),
        (GOOD_SEGMENTS, "/etc/passwd", "points outside"),
        (GOOD_SEGMENTS, "missing.png", "missing.png: no such PNG"),
        (GOOD_SEGMENTS[:1], "a.png", "segment id 300 is in the PNG, not the JSON"),
        ([*GOOD_SEGMENTS, {"id": 5, "category_id": 2}], "a.png", "5 is in the JSON but not in"),
        ([*GOOD_SEGMENTS, {"id": 1, "category_id": 2}], "a.png", "duplicate segment ids"),
        ([{"id": 1, "category_id": 9}, GOOD_SEGMENTS[1]], "a.png", "unknown category id 9"),
    ],
)
def test_coco_panoptic_bad_input_names_the_file_and_the_problem(
    tmp_path: Path, segments: list[dict[str, Any]], file_name: str, message: str
) -> None:
    json_path = _panoptic_case(tmp_path, segments, file_name)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        MaskAP.from_coco_panoptic(json_path, tmp_path / "png")


def test_coco_panoptic_bad_pngs_name_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    json_path = _panoptic_case(tmp_path, GOOD_SEGMENTS)
    png = tmp_path / "png" / "a.png"
    good = png.read_bytes()
    for content, message in [
        (good[: len(good) // 2], "a.png: cannot read the PNG"),
        (b"not a png at all", "a.png: cannot read the PNG"),
    ]:
        png.write_bytes(content)
        with pytest.raises(ValueError, match=message):
            MaskAP.from_coco_panoptic(json_path, tmp_path / "png")
    Image.new("RGBA", (6, 4)).save(png)
    with pytest.raises(ValueError, match="expected an RGB PNG, got mode RGBA"):
        MaskAP.from_coco_panoptic(json_path, tmp_path / "png")
    Image.new("RGB", (7, 4)).save(png)
    with pytest.raises(ValueError, match=r"a.png: the PNG is 7x4 \(WxH\) but the JSON says 6x4"):
        MaskAP.from_coco_panoptic(json_path, tmp_path / "png")
    Image.new("RGB", (6, 4)).save(png)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # 24 pixels: a "decompression bomb"
    with pytest.raises(ValueError, match=r"a\.png: cannot read the PNG \(DecompressionBomb"):
        MaskAP.from_coco_panoptic(json_path, tmp_path / "png")
    with pytest.raises(ValueError, match="category 1 is not a thing category"):
        MaskAP.from_coco_panoptic(json_path, tmp_path / "png", category_ids=[1])
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match=r"broken\.json: not valid JSON"):
        MaskAP.from_coco_panoptic(tmp_path / "broken.json", tmp_path / "png")


# ---- the COCO results JSON ----------------------------------------------------------------


def test_results_json_round_trips_and_loads_in_pycocotools(tmp_path: Path) -> None:
    images = _scene(4)
    acc = _ours(images)
    acc.write_predictions(tmp_path / "instances.json")
    assert [p.name for p in tmp_path.iterdir()] == ["instances.json"]  # no temporary left
    entries = json.loads((tmp_path / "instances.json").read_text())
    assert all(set(e) == {"image_id", "category_id", "segmentation", "score"} for e in entries)
    # pycocotools reads our file as is (our image ids renamed to its integer ones)
    number = {image["image_id"]: k for k, image in enumerate(images, start=1)}
    renamed = [{**e, "image_id": number[e["image_id"]]} for e in entries]
    (tmp_path / "renamed.json").write_text(json.dumps(renamed))
    stats, per_class = _pycocotools_reference(images, tmp_path, str(tmp_path / "renamed.json"))
    _assert_matches(acc.compute(), stats, per_class)
    # and reading it back gives the same detections
    again = MaskAP(CATEGORY_IDS)
    for image in images:
        again.add_ground_truth(image["image_id"], **image["gt"])
    again.read_predictions(tmp_path / "instances.json")
    assert again.compute() == acc.compute()


def test_rle_predictions_compressed_or_not_equal_mask_predictions() -> None:
    images = _scene(5, n_images=3)
    by_masks, by_rles = MaskAP(CATEGORY_IDS), MaskAP(CATEGORY_IDS)
    for k, image in enumerate(images):
        pred = image["pred"]
        rles: list[Any] = [_rle(m) for m in pred["masks"]]
        if k == 0:  # uncompressed counts, column-major runs starting with background
            rles = [
                {"size": list(m.shape), "counts": _runs(m.ravel(order="F"))} for m in pred["masks"]
            ]
        by_masks.update(image["image_id"], pred, image["gt"])
        by_rles.update(
            image["image_id"],
            {"labels": pred["labels"], "scores": pred["scores"], "rles": rles},
            image["gt"],
        )
    assert by_rles.compute() == by_masks.compute()


def _runs(flat: np.ndarray) -> list[int]:
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    edges = [0, *change.tolist(), len(flat)]
    runs = np.diff(edges).tolist()
    return [0, *runs] if flat[0] else runs


def test_rle_kernel_decodes_pycocotools_strings_like_its_python_twin() -> None:
    rng = np.random.default_rng(6)
    for _ in range(50):
        h, w = (int(x) for x in rng.integers(1, 300, size=2))
        counts = rng.integers(0, 5000, size=int(rng.integers(1, 40))).tolist()
        counts.append(max(0, h * w - sum(counts)))
        compressed = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)["counts"]
        decoded, ok = rle_counts_kernel(np.frombuffer(compressed, dtype=np.uint8))
        twin, twin_ok = rle_counts_python(compressed)
        assert ok
        assert twin_ok
        assert decoded.tolist() == twin == counts  # pycocotools keeps the counts as given
        cut = compressed[: int(rng.integers(0, len(compressed)))]
        decoded, ok = rle_counts_kernel(np.frombuffer(cut, dtype=np.uint8))
        assert (decoded.tolist(), ok) == rle_counts_python(cut)
    # a NUL, a truncated number ("o" and "P" announce more chunks), 8 chunks, a negative count
    for bad in (b"\x00", b"o", b"1P", b"0" * 3 + b"_" * 8, b"@"):
        assert not rle_counts_kernel(np.frombuffer(bad, dtype=np.uint8))[1]
        assert not rle_counts_python(bad)[1]


# ---- properties ---------------------------------------------------------------------------


def test_perfect_predictions_give_one_and_wrong_categories_give_zero() -> None:
    images = _scene(7)
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
    images = _scene(8, n_images=8)
    whole = _ours(images)
    first, second = _ours(images[::2]), _ours(images[1::2])
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
        pred = _detections_of(rng, _instances_from_instance_ids(path))
        pred["labels"] = np.clip(pred["labels"], 0, len(THINGS) - 1)
        whole.add_predictions(image_id, **pred)
        (first if k % 2 else second).add_predictions(image_id, **pred)
    assert first.merge(second).compute() == whole.compute()
    other = MaskAP(whole.category_ids)
    masks = np.zeros((1, 64, 128), dtype=bool)
    other.add_ground_truth(image_id, masks=masks, labels=[0])
    with pytest.raises(ValueError, match="hold different ground truth for 'synthval_000018"):
        whole.merge(other)


def test_numpy_integer_image_ids_become_ints(tmp_path: Path) -> None:
    image = _scene(15, n_images=1)[0]
    acc = MaskAP(CATEGORY_IDS)
    acc.update(np.int64(3), image["pred"], image["gt"])
    acc.write_predictions(tmp_path / "r.json")
    assert {e["image_id"] for e in json.loads((tmp_path / "r.json").read_text())} == {3}
    with pytest.raises(TypeError, match="image_id must be an int or a str"):
        acc.update(3.0, image["pred"])  # type: ignore[arg-type]


def test_results_to_json_is_strict_json_with_null_for_nan() -> None:
    result = _ours(_scene(9, n_images=2)).compute()
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
    few, many = _ours(images, max_detections=10).compute(), _ours(images).compute()
    assert few.ap == pytest.approx(72 / 101, abs=1e-12)
    assert few.ap50 == few.ap75 == few.ap
    assert few.ar_max == pytest.approx(10 / 14, abs=1e-12)
    assert many.ap == pytest.approx(1.0, abs=1e-12)
    assert few.max_detections == 10
    _pycocotools_reference(images, tmp_path)  # writes gt.json
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(tmp_path / "gt.json"))
        dets = [
            {"image_id": 1, "category_id": 24, "segmentation": _rle(m), "score": float(s)}
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

    image = _scene(11, n_images=1)[0]
    expected = _ours([image]).compute()
    acc = MaskAP(CATEGORY_IDS)
    acc.update(
        image["image_id"],
        {k: torch.from_numpy(np.asarray(v)) for k, v in image["pred"].items()},
        {k: torch.from_numpy(np.asarray(v)) for k, v in image["gt"].items()},
    )
    assert acc.compute() == expected


# ---- bad input ----------------------------------------------------------------------------


def test_bad_predictions_and_targets_get_clear_errors_and_change_nothing() -> None:
    image = _scene(12, n_images=1)[0]
    gt, pred = image["gt"], image["pred"]
    acc = MaskAP(CATEGORY_IDS)
    k = len(pred["labels"])
    cases: list[tuple[dict[str, Any], dict[str, Any] | None, type[Exception], str]] = [
        ({**pred, "labels": pred["labels"] + 3}, gt, ValueError, "prediction labels: label 3"),
        ({**pred, "labels": pred["labels"].astype(float)}, gt, TypeError, "1-D integer array"),
        ({**pred, "scores": pred["scores"][:-1]}, gt, ValueError, "prediction scores: expected"),
        ({**pred, "scores": pred["scores"] * np.nan}, gt, ValueError, "every score must be finite"),
        ({**pred, "masks": pred["masks"].astype(np.float32)}, gt, TypeError, "bool or 0/1"),
        ({**pred, "masks": pred["masks"] * 2}, gt, ValueError, "only 0 and 1"),
        ({**pred, "masks": pred["masks"][:, :-1]}, gt, ValueError, "predicted masks are"),
        ({**pred, "rles": []}, gt, ValueError, "exactly one of masks and rles"),
        ({**pred, "boxes": np.zeros((k, 3))}, gt, ValueError, "prediction boxes: expected"),
        (pred, {**gt, "labels": gt["labels"][:-1]}, ValueError, "target masks: expected shape"),
        (pred, {**gt, "iscrowd": gt["iscrowd"][:-1]}, ValueError, "target iscrowd: expected"),
    ]
    for prediction, target, error, message in cases:
        with pytest.raises(error, match=message):
            acc.update(image["image_id"], prediction, target)
        assert (acc._gt, acc._pred) == ({}, {})  # nothing half-added
    acc.update(image["image_id"], pred)
    with pytest.raises(ValueError, match="which has no ground truth"):
        acc.compute()
    with pytest.raises(ValueError, match="already has predictions"):
        acc.update(image["image_id"], pred)
    acc.add_ground_truth(image["image_id"], **gt)
    with pytest.raises(ValueError, match="already has ground truth"):
        acc.add_ground_truth(image["image_id"], **gt)
    assert not math.isnan(acc.compute().ap)


@pytest.mark.parametrize(
    ("rle", "message"),
    [
        ({"size": [4, 6], "counts": "0"}, "RLE runs cover 0 pixels, its size 4x6 has 24"),
        ({"size": [4, 6], "counts": "1P"}, "malformed compressed RLE"),
        ({"size": [4, 6], "counts": "é"}, "malformed compressed RLE"),
        ({"size": [4, 6], "counts": [20, 5]}, "RLE runs cover 25 pixels"),
        ({"size": [4, 6], "counts": [30, -6]}, "must not be negative"),
        ({"size": [4], "counts": "0"}, r"RLE size must be \[height, width\]"),
        ({"counts": "0"}, "expected an RLE"),
        ({"size": [4, 6], "counts": 3.5}, "a string or a list of integers"),
    ],
)
def test_bad_rles_are_refused_before_pycocotools_reads_them(rle: Any, message: str) -> None:
    acc = MaskAP(CATEGORY_IDS)
    with pytest.raises(ValueError, match=message):
        acc.add_predictions("a", labels=[0], scores=[0.5], rles=[rle])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not valid JSON"),
        ('{"image_id": 1}', "a COCO results JSON is a list of detections"),
        ('[{"image_id": 1, "score": 0.5}]', "entry 0: needs image_id, category_id"),
        ('[{"image_id": 1, "category_id": 7, "score": 1, "segmentation": {}}]', "category_id 7"),
        ('[{"image_id": [1], "category_id": 24, "score": 1, "segmentation": {}}]', "image_id"),
        ('[{"image_id": 1, "category_id": 24, "score": NaN, "segmentation": {}}]', "score must"),
        ('[{"image_id": 1, "category_id": 24, "score": 1, "segmentation": {}}]', "expected an RLE"),
    ],
)
def test_bad_results_json_names_the_file_and_the_entry(
    tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "results.json").write_text(content)
    acc = MaskAP(CATEGORY_IDS)
    with pytest.raises(ValueError, match=f"results.json: .*{message}"):
        acc.read_predictions(tmp_path / "results.json")
    assert not acc._pred
    with pytest.raises(FileNotFoundError, match=r"nope\.json: no such file"):
        acc.read_predictions(tmp_path / "nope.json")


def test_bad_configuration_and_merges_are_refused() -> None:
    with pytest.raises(ValueError, match="category_ids must be distinct"):
        MaskAP([24, 24])
    with pytest.raises(ValueError, match="max_detections must be an integer >= 10"):
        MaskAP([24], max_detections=5)
    images = _scene(13, n_images=2)
    with pytest.raises(ValueError, match="both accumulators hold predictions for image 'img00'"):
        _ours(images).merge(_ours(images[:1]))
    with pytest.raises(ValueError, match="different categories"):
        MaskAP([24]).merge(MaskAP([26]))


def test_without_pycocotools_the_module_imports_and_says_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['pycocotools'] = None\n"
        "from panoptic_metrics.mask_ap import MaskAP\n"
        "acc = MaskAP([1])\n"
        "try:\n"
        "    acc.compute()\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'panoptic-metrics[ap]'" in out.stdout
