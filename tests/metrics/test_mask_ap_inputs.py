"""Mask AP inputs: COCO-panoptic ground truth files, the COCO results JSON, RLEs, and bad
input of every kind."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from panoptic_metrics import PanopticInputError
from panoptic_metrics.mask_ap import MaskAP
from PIL import Image

from tests.metrics.mask_ap_scenes import (
    CATEGORY_IDS,
    assert_matches,
    encode_rle,
    ours,
    pycocotools_reference,
    scene,
)


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
        (GOOD_SEGMENTS, "../a.png", "points outside its folder"),
        (GOOD_SEGMENTS, "/etc/passwd", "is an absolute path"),
        (
            GOOD_SEGMENTS,
            "missing.png",
            r"missing\.png \(image_id 7 of .*gt\.json\): file not found",
        ),
        (GOOD_SEGMENTS[:1], "a.png", "segment id 300 is in the PNG but not in the JSON"),
        ([*GOOD_SEGMENTS, {"id": 5, "category_id": 2}], "a.png", r"ids \[5\] are in the JSON"),
        ([*GOOD_SEGMENTS, {"id": 1, "category_id": 2}], "a.png", r"duplicate segment ids \[1\]"),
        ([{"id": 1, "category_id": 9}, GOOD_SEGMENTS[1]], "a.png", r"unknown category ids \[9\]"),
    ],
)
def test_coco_panoptic_bad_input_names_the_file_and_the_problem(
    tmp_path: Path, segments: list[dict[str, Any]], file_name: str, message: str
) -> None:
    """The errors of the library's one COCO-panoptic reader (readers.coco) and PNG decoder."""
    json_path = _panoptic_case(tmp_path, segments, file_name)
    with pytest.raises(PanopticInputError, match=message) as error:
        MaskAP.from_coco_panoptic(json_path, tmp_path / "png")
    assert str(json_path) in str(error.value)  # every message names the JSON


def test_coco_panoptic_bad_pngs_name_the_file(tmp_path: Path) -> None:
    json_path = _panoptic_case(tmp_path, GOOD_SEGMENTS)
    png = tmp_path / "png" / "a.png"
    good = png.read_bytes()
    cases = [
        (good[: len(good) // 2], r"a\.png .*: corrupt or truncated PNG"),
        (b"not a png at all", r"a\.png .*: not a PNG file"),
    ]
    for content, message in cases:
        png.write_bytes(content)
        with pytest.raises(PanopticInputError, match=message):
            MaskAP.from_coco_panoptic(json_path, tmp_path / "png")
    Image.new("RGBA", (6, 4)).save(png)
    with pytest.raises(PanopticInputError, match=r"a\.png .*: has colour type RGBA"):
        MaskAP.from_coco_panoptic(json_path, tmp_path / "png")
    Image.new("RGB", (7, 4)).save(png)
    with pytest.raises(PanopticInputError, match=r"a\.png .*: the PNG is 7x4 .* says 6x4"):
        MaskAP.from_coco_panoptic(json_path, tmp_path / "png")
    Image.new("RGB", (6, 4)).save(png)
    with pytest.raises(PanopticInputError, match=r"a\.png .*: is 6x4 = 24 pixels, outside 1\.\.10"):
        MaskAP.from_coco_panoptic(json_path, tmp_path / "png", max_pixels=10)  # a "bomb"
    with pytest.raises(PanopticInputError, match="category 1 is not a thing category"):
        MaskAP.from_coco_panoptic(json_path, tmp_path / "png", category_ids=[1])
    data = json.loads(json_path.read_text())
    data["images"][0].pop("height")
    json_path.write_text(json.dumps(data))
    with pytest.raises(PanopticInputError, match="no entry with its height and width"):
        MaskAP.from_coco_panoptic(json_path, tmp_path / "png")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(PanopticInputError, match=r"broken\.json: invalid JSON"):
        MaskAP.from_coco_panoptic(tmp_path / "broken.json", tmp_path / "png")


# ---- the COCO results JSON ----------------------------------------------------------------


def test_results_json_round_trips_and_loads_in_pycocotools(tmp_path: Path) -> None:
    images = scene(4)
    acc = ours(images)
    acc.write_predictions(tmp_path / "instances.json")
    assert [p.name for p in tmp_path.iterdir()] == ["instances.json"]  # no temporary left
    entries = json.loads((tmp_path / "instances.json").read_text())
    assert all(set(e) == {"image_id", "category_id", "segmentation", "score"} for e in entries)
    # pycocotools reads our file as is (our image ids renamed to its integer ones)
    number = {image["image_id"]: k for k, image in enumerate(images, start=1)}
    renamed = [{**e, "image_id": number[e["image_id"]]} for e in entries]
    (tmp_path / "renamed.json").write_text(json.dumps(renamed))
    stats, per_class = pycocotools_reference(images, tmp_path, str(tmp_path / "renamed.json"))
    assert_matches(acc.compute(), stats, per_class)
    # and reading it back gives the same detections
    again = MaskAP(CATEGORY_IDS)
    for image in images:
        again.add_ground_truth(image["image_id"], **image["gt"])
    again.read_predictions(tmp_path / "instances.json")
    assert again.compute() == acc.compute()


def test_rle_predictions_compressed_or_not_equal_mask_predictions() -> None:
    images = scene(5, n_images=3)
    by_masks, by_rles = MaskAP(CATEGORY_IDS), MaskAP(CATEGORY_IDS)
    for k, image in enumerate(images):
        pred = image["pred"]
        rles: list[Any] = [encode_rle(m) for m in pred["masks"]]
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


# ---- bad input ----------------------------------------------------------------------------


def test_bad_predictions_and_targets_get_clear_errors_and_change_nothing() -> None:
    image = scene(12, n_images=1)[0]
    gt, pred = image["gt"], image["pred"]
    acc = MaskAP(CATEGORY_IDS)
    k = len(pred["labels"])
    cases: list[tuple[dict[str, Any], dict[str, Any] | None, str]] = [
        ({**pred, "labels": pred["labels"] + 3}, gt, "prediction labels: label 3"),
        ({**pred, "labels": pred["labels"].astype(float)}, gt, "1-D integer array"),
        ({**pred, "scores": pred["scores"][:-1]}, gt, "prediction scores: expected"),
        ({**pred, "scores": pred["scores"] * np.nan}, gt, "every score must be finite"),
        ({**pred, "masks": pred["masks"].astype(np.float32)}, gt, "bool or 0/1"),
        ({**pred, "masks": pred["masks"] * 2}, gt, "only 0 and 1"),
        ({**pred, "masks": pred["masks"][:, :-1]}, gt, "predicted masks are"),
        ({**pred, "rles": []}, gt, "exactly one of masks and rles"),
        ({**pred, "boxes": np.zeros((k, 3))}, gt, "prediction boxes: expected"),
        (pred, {**gt, "labels": gt["labels"][:-1]}, "target masks: expected shape"),
        (pred, {**gt, "iscrowd": gt["iscrowd"][:-1]}, "target iscrowd: expected"),
    ]
    for prediction, target, message in cases:
        with pytest.raises(PanopticInputError, match=message):
            acc.update(image["image_id"], prediction, target)
        assert (acc._gt, acc._pred) == ({}, {})  # nothing half-added
    acc.update(image["image_id"], pred)
    with pytest.raises(PanopticInputError, match="has predictions but no ground truth"):
        acc.compute()
    with pytest.raises(PanopticInputError, match="already has predictions"):
        acc.update(image["image_id"], pred)
    acc.add_ground_truth(image["image_id"], **gt)
    with pytest.raises(PanopticInputError, match="already has ground truth"):
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
    with pytest.raises(PanopticInputError, match=message):
        acc.add_predictions("a", labels=[0], scores=[0.5], rles=[rle])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "invalid JSON"),
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
    with pytest.raises(PanopticInputError, match=rf"results\.json.*{message}"):
        acc.read_predictions(tmp_path / "results.json")
    assert not acc._pred
    with pytest.raises(PanopticInputError, match=r"nope\.json: file not found"):
        acc.read_predictions(tmp_path / "nope.json")


def test_bad_configuration_and_merges_are_refused() -> None:
    with pytest.raises(ValueError, match="category_ids must be distinct"):
        MaskAP([24, 24])
    with pytest.raises(ValueError, match="max_detections must be an integer >= 10"):
        MaskAP([24], max_detections=5)
    images = scene(13, n_images=2)
    with pytest.raises(PanopticInputError, match="image 'img00': both accumulators hold"):
        ours(images).merge(ours(images[:1]))
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
