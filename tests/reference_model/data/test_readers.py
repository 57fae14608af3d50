"""Every dataset reader on small data written in its format, checked against targets derived
independently (from the hand-made scene, or from cityscapesscripts' own label table)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from reference_model.data import (
    AugmentationConfig,
    PanopticDataset,
    TrainTransform,
    cityscapes,
    coco,
    idd,
    open_dataset,
    synthetic,
    vistas,
)
from reference_model.data.records import DatasetSource
from reference_model.synthetic import generate

pytestmark = pytest.mark.needs_torch

H, W = 48, 96  # conftest.H, conftest.W (checked by the scene_size fixture below)

# contracts §1: stuff first, then things, each in the dataset's order. The test categories
# are [person 24 (thing), road 7, car 26 (thing), sky 23] -> road 0, sky 1, person 2, car 3.
CLASS_OF = {7: 0, 23: 1, 24: 2, 26: 3}
N_STUFF = 2


def _target(source: DatasetSource, k: int, short_side: int = H) -> dict[str, torch.Tensor]:
    identity = AugmentationConfig(short_side=short_side, scale_range=(1.0, 1.0), flip=False)
    sample = PanopticDataset(source, TrainTransform(identity, source.classes))[k]
    assert sample.target is not None
    return sample.target


def _check_scene(target: dict[str, torch.Tensor], sc: Any) -> None:
    """Targets of `conftest.scene`: semantic per pixel, then instances a, b, crowd in order."""
    expected = np.full((H, W), 255, dtype=np.int64)
    for seg in sc.segments:
        expected[sc.ids == seg["id"]] = CLASS_OF[seg["category_id"]]
    assert np.array_equal(target["semantic"].numpy(), expected)
    things = [s for s in sc.segments if CLASS_OF[s["category_id"]] >= N_STUFF]
    assert target["labels"].tolist() == [CLASS_OF[s["category_id"]] - N_STUFF for s in things]
    assert target["iscrowd"].tolist() == [bool(s["iscrowd"]) for s in things]
    for k, seg in enumerate(things):
        assert np.array_equal(target["masks"][k].numpy(), sc.ids == seg["id"])
        x, y, w, h = seg["bbox"]  # COCO xywh -> xyxy with exclusive right/bottom edges
        assert target["boxes"][k].tolist() == [x, y, x + w, y + h]


def test_scene_size(scene_size: tuple[int, int]) -> None:
    assert scene_size == (H, W)


def test_coco_reader(coco_root: tuple[Path, dict]) -> None:
    root, scenes = coco_root
    source = coco(root, "val")
    assert source.split == "val2017"
    assert list(source.classes.category_ids) == [7, 23, 24, 26]
    assert [r.image_id for r in source.records] == [139, 285]
    for k, image_id in enumerate(source.records):
        _check_scene(_target(source, k), scenes[image_id.image_id])
    assert source.gt_json == root / "annotations" / "panoptic_val2017.json"


def test_vistas_reader_v2_and_v12_layouts(vistas_root: tuple[Path, dict]) -> None:
    root, scenes = vistas_root
    source = vistas(root, "val")  # "val" is an alias of "validation"
    assert source.split == "validation"
    for k, record in enumerate(source.records):
        assert record.image_path.suffix == ".jpg"
        _check_scene(_target(source, k), scenes[record.image_id])
    # The v1.x release keeps panoptic/ directly under the split folder.
    shutil.copytree(root / "validation" / "v2.0" / "panoptic", root / "validation" / "panoptic")
    (root / "validation" / "panoptic" / "panoptic_2020.json").rename(
        root / "validation" / "panoptic" / "panoptic_2018.json"
    )
    old = vistas(root, "validation", version="v1.2")
    assert old.gt_folder == root / "validation" / "panoptic"
    _check_scene(_target(old, 1), scenes["zz_key2"])


def test_idd_reader_level3_instance_ids(tmp_path: Path) -> None:
    """IDD's level-3 instance PNG: road is level-3 id 0 (a valid stuff id, not void), void 255;
    person 4 and car 9 are things; a bare thing id (4) is a crowd group."""
    ids = np.full((H, W), 25, dtype=np.int32)  # sky (level-3 25)
    ids[H // 2 :] = 0  # road
    ids[4:20, 8:30] = 4000  # person instance 0
    ids[26:44, 50:70] = 9000  # car instance 0
    ids[30:40, 75:90] = 4  # a crowd of persons
    ids[0:6, 80:96] = 255  # void
    gt = tmp_path / "idd" / "gtFine" / "val" / "119"
    gt.mkdir(parents=True)
    Image.fromarray(ids.astype(np.uint16)).save(gt / "000123_gtFine_instancelevel3Ids.png")
    images = tmp_path / "idd" / "leftImg8bit" / "val" / "119"
    images.mkdir(parents=True)
    Image.new("RGB", (W, H)).save(images / "000123_leftImg8bit.png")
    source = idd(tmp_path / "idd", "val")
    # Paper §5.2: 26 classes, 17 stuff and 9 things.
    assert (source.classes.n_classes, source.classes.n_stuff) == (26, 17)
    assert source.records[0].image_id == "119_000123"
    target = _target(source, 0)
    # Stuff level-3 ids in order: 0 1 2 3 13 14 ... 25, so road -> 0 and sky -> 16;
    # things 4..12 follow: person -> 17 (thing 0), car (9) -> 22 (thing 5).
    semantic = target["semantic"].numpy()
    assert semantic[H - 1, 0] == 0
    assert semantic[0, 0] == 16
    assert semantic[5, 85] == 255
    assert (semantic[10, 10], semantic[30, 60], semantic[35, 80]) == (17, 22, 17)
    assert target["labels"].tolist() == [0, 0, 5]  # sorted by id: 4 (crowd), 4000, 9000
    assert target["iscrowd"].tolist() == [True, False, False]
    assert target["boxes"].tolist() == [[75, 30, 90, 40], [8, 4, 30, 20], [50, 26, 70, 44]]


def test_cityscapes_reader_on_cityscapesscripts_conversion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """gtFine converted by cityscapesscripts' own createPanopticImgs; expected targets from
    its label table: semantic = trainId (contracts §1), instances = ids >= 1000 and the crowd
    groups of classes with instances."""
    from cityscapesscripts.helpers.labels import id2label
    from cityscapesscripts.preparation.createPanopticImgs import convert2panoptic

    root = tmp_path / "cityscapes"
    generate(root, {"val": 3}, height=64, width=128, seed=3, workers=1, progress=False)
    (root / "gtFine" / "cityscapes_panoptic_val.json").unlink()
    shutil.rmtree(root / "gtFine" / "cityscapes_panoptic_val")
    convert2panoptic(str(root / "gtFine"), str(root / "gtFine"), False, ["val"])
    capsys.readouterr()
    source = cityscapes(root, "val")
    assert list(source.classes.category_ids) == [
        label.id
        for label in sorted(id2label.values(), key=lambda lab: lab.trainId)
        if 0 <= label.trainId < 255
    ]
    for k, record in enumerate(source.records):
        city = record.image_id.split("_")[0]
        raw = np.asarray(
            Image.open(root / "gtFine" / "val" / city / f"{record.image_id}_gtFine_instanceIds.png")
        ).astype(np.int64)
        label_ids = np.where(raw >= 1000, raw // 1000, raw)
        train_ids = np.vectorize(lambda i: id2label[i].trainId)(label_ids)
        expected = np.where((train_ids < 0) | (train_ids >= 255), 255, train_ids)
        target = _target(source, k, short_side=64)  # scale 1: targets at the size on disk
        assert np.array_equal(target["semantic"].numpy(), expected)
        instances = sorted(
            v
            for v in np.unique(raw).tolist()
            if id2label[v // 1000 if v >= 1000 else v].hasInstances
        )
        got = sorted(
            (
                int(target["labels"][j]) + 11,
                bool(target["iscrowd"][j]),
                target["masks"][j].numpy().tobytes(),
            )
            for j in range(len(target["labels"]))
        )
        want = sorted(
            (id2label[v // 1000 if v >= 1000 else v].trainId, v < 1000, (raw == v).tobytes())
            for v in instances
        )
        assert got == want


def test_synthetic_reader_and_open_dataset(synthetic_root: Path) -> None:
    source = open_dataset("synthetic", synthetic_root, "val")
    again = synthetic(synthetic_root, "val")
    assert (again.classes, again.gt_json) == (source.classes, source.gt_json)
    assert [r.image_path for r in again.records] == [r.image_path for r in source.records]
    assert len(source.records) == 19
    assert (source.classes.n_stuff, source.classes.n_things) == (11, 8)
    assert source.gt_json is not None
    assert source.gt_json.is_file()
    with pytest.raises(ValueError, match="unknown dataset 'kitti'"):
        open_dataset("kitti", synthetic_root, "val")
