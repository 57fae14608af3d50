"""The parts of the evaluation: predictions back at the ground truth's size, prediction file
names, the ground truth as panoptic_metrics reads it, and the COCO-panoptic writer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from panoptic_metrics import CategorySet, match_image
from PIL import Image

from reference_model.data import ClassMapping, synthetic
from reference_model.data.decode import load_panoptic
from reference_model.data.idd import idd
from reference_model.data.targets import make_target
from reference_model.evaluation import GroundTruth, PredictionWriter, file_name_of
from reference_model.prediction import Instances, PanopticPrediction, resize_prediction
from reference_model.synthetic import coco_categories

pytestmark = pytest.mark.needs_torch


def _prediction() -> PanopticPrediction:
    """A 4x6 prediction: stuff segment 1 (class 0), thing segment 2 (class 12) of 2x2 pixels,
    one void pixel; one detection."""
    panoptic = torch.ones(4, 6, dtype=torch.int64)
    panoptic[1:3, 2:4] = 2
    panoptic[3, 5] = 0
    semantic = torch.zeros(4, 6, dtype=torch.int64)
    semantic[1:3, 2:4] = 12
    masks = (panoptic == 2)[None]
    instances = Instances(
        boxes=torch.tensor([[2.0, 1.0, 4.0, 3.0]]),
        labels=torch.tensor([1]),
        scores=torch.tensor([0.9]),
        masks=masks,
    )
    segments = [
        {"id": 1, "class_index": 0, "isthing": False, "score": 1.0},
        {"id": 2, "class_index": 12, "isthing": True, "score": 0.9},
    ]
    return PanopticPrediction(panoptic, segments, semantic, instances)


def test_resizing_a_prediction_repeats_pixels_and_scales_boxes() -> None:
    pred = _prediction()
    assert resize_prediction(pred, (4, 6)) is pred
    big = resize_prediction(pred, (8, 12))
    # Nearest neighbours at twice the size: every pixel becomes a 2x2 block.
    expected = pred.panoptic.repeat_interleave(2, 0).repeat_interleave(2, 1)
    assert torch.equal(big.panoptic, expected)
    assert torch.equal(big.semantic, pred.semantic.repeat_interleave(2, 0).repeat_interleave(2, 1))
    assert torch.equal(big.instances.masks[0], expected == 2)
    assert big.instances.boxes.tolist() == [[4.0, 2.0, 8.0, 6.0]]
    assert big.segments == pred.segments
    assert big.panoptic.dtype == torch.int64
    assert big.instances.masks.dtype == torch.bool


def test_a_segment_lost_by_downsizing_is_dropped() -> None:
    pred = _prediction()
    small = resize_prediction(pred, (1, 1))  # one pixel: one segment left
    assert small.panoptic.shape == (1, 1)
    assert [s["id"] for s in small.segments] == small.panoptic.flatten().tolist()
    assert small.instances.masks.shape == (1, 1, 1)


def test_prediction_file_names_are_plain() -> None:
    assert file_name_of("frankfurt_000000_000294") == "frankfurt_000000_000294.png"
    assert file_name_of(139) == "139.png"
    assert file_name_of("-0aBcD_key1") == "-0aBcD_key1.png"  # a Vistas id
    for hostile in ("../x", "a/b", ".hidden", "", "x\x00"):
        with pytest.raises(ValueError, match="cannot name a prediction file"):
            file_name_of(hostile)


def test_ground_truth_semantic_equals_the_training_target(synthetic_root: Path) -> None:
    """Two derivations of the semantic ground truth: from the PNG as panoptic_metrics reads
    it (evaluation), and the data pipeline's training target at scale 1."""
    source = synthetic(synthetic_root, "val")
    truth = GroundTruth(source)
    assert truth.categories.contiguous_ids == source.classes.category_ids
    assert truth.image_ids == [r.image_id for r in source.records]
    for record in source.records[:4]:
        gt = truth.image(record.image_id)
        decoded = load_panoptic(record)
        target = make_target(decoded.index, decoded.segments, source.classes)
        np.testing.assert_array_equal(truth.semantic(gt), target["semantic"].numpy())
        stats = match_image(gt, gt, truth.categories)  # the ground truth matches itself
        assert stats.sums[:, 1:3].sum() == 0  # no FP, no FN


def test_instance_id_ground_truth_goes_through_the_data_pipeline(tmp_path: Path) -> None:
    """IDD ships level-3 instance-id PNGs, no COCO-panoptic JSON: person instance, a crowd of
    persons, road (level-3 id 0, a class) and void (255)."""
    ids = np.full((8, 12), 25, dtype=np.uint16)  # sky
    ids[4:] = 0  # road
    ids[1:3, 1:3] = 4000  # a person
    ids[5:7, 8:11] = 4  # a crowd of persons
    ids[0, 11] = 255  # void
    gt = tmp_path / "idd" / "gtFine" / "val" / "7"
    gt.mkdir(parents=True)
    Image.fromarray(ids).save(gt / "000001_gtFine_instancelevel3Ids.png")
    images = tmp_path / "idd" / "leftImg8bit" / "val" / "7"
    images.mkdir(parents=True)
    Image.new("RGB", (12, 8)).save(images / "000001_leftImg8bit.png")
    source = idd(tmp_path / "idd", "val")
    truth = GroundTruth(source)
    image = truth.image("7_000001")
    ids = image.segments.ids.tolist()
    categories = dict(zip(ids, image.segments.category_ids.tolist(), strict=True))
    crowd = dict(zip(ids, image.segments.iscrowd.tolist(), strict=True))
    assert categories[int(image.ids[1, 1])] == 4
    assert crowd[int(image.ids[5, 8])]
    assert not crowd[int(image.ids[1, 1])]
    assert image.ids[0, 11] == 0
    semantic = truth.semantic(image)
    # IDD's contiguous order: stuff 0 1 2 3 13..25 (road -> 0, sky -> 16), then things 4..12.
    assert (semantic[7, 0], semantic[0, 0], semantic[1, 1], semantic[5, 8]) == (0, 16, 17, 17)
    assert semantic[0, 11] == 255


def test_the_writer_writes_what_panoptic_metrics_reads(tmp_path: Path) -> None:
    classes = ClassMapping(CategorySet.from_coco(coco_categories()))
    writer = PredictionWriter(tmp_path / "predictions", classes)
    image = writer.add("city_000001_000002", _prediction())
    path = writer.finish(distributed=False, is_main=True)
    data = json.loads(path.read_text())
    assert [a["file_name"] for a in data["annotations"]] == ["city_000001_000002.png"]
    assert data["categories"] == classes.categories.to_coco()
    assert data["categories"][0]["color"] == list(coco_categories()[0]["color"])  # reports use it
    info = {s["id"]: s for s in data["annotations"][0]["segments_info"]}
    assert info[1]["category_id"] == classes.category_ids[0]
    assert info[2]["category_id"] == classes.category_ids[12]
    assert (info[1]["area"], info[2]["area"]) == (19, 4)
    rgb = np.asarray(Image.open(tmp_path / "predictions" / "panoptic" / "city_000001_000002.png"))
    ids = rgb[..., 0] + 256 * rgb[..., 1].astype(np.int64) + 65536 * rgb[..., 2].astype(np.int64)
    np.testing.assert_array_equal(ids, image.ids)
    assert not list(tmp_path.rglob("*.part"))


def test_resizing_picks_pixels_as_torch_nearest_exact() -> None:
    """The index gather equals F.interpolate(mode="nearest-exact") at odd scales both ways."""
    generator = torch.Generator().manual_seed(0)
    panoptic = torch.randint(1, 9, (13, 17), generator=generator)
    masks = (panoptic % 2 == 0)[None]
    labels = torch.zeros(1, dtype=torch.int64)
    instances = Instances(torch.zeros(1, 4), labels, torch.ones(1), masks)
    pred = PanopticPrediction(panoptic, [], panoptic % 5, instances)
    for size in ((29, 7), (5, 40), (13, 17)):
        resized = resize_prediction(pred, size)
        expected = torch.nn.functional.interpolate(
            panoptic[None, None].float(), size=size, mode="nearest-exact"
        )[0, 0].long()
        assert torch.equal(resized.panoptic, expected), size
        assert torch.equal(resized.semantic, expected % 5), size
        assert torch.equal(resized.instances.masks[0], expected % 2 == 0), size
