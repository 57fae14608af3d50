"""Missing, incomplete and malformed datasets: a DatasetError that names the file, the problem
and (for a missing dataset) how to prepare it. The ground truth is read by panoptic_metrics, so
training refuses what evaluation refuses, with the same message."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from panoptic_metrics import CategorySet, PanopticInputError, load_coco_panoptic
from PIL import Image

from reference_model.data import (
    ClassMapping,
    DatasetError,
    PanopticDataset,
    TrainTransform,
    cityscapes,
    coco,
    idd,
    synthetic,
    vistas,
)
from reference_model.data.config import AugmentationConfig

pytestmark = pytest.mark.needs_torch

JSON = "annotations/panoptic_val2017.json"


def _edit_json(root: Path, edit) -> None:  # type: ignore[no-untyped-def]
    path = root / JSON
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _load_first(source) -> None:  # type: ignore[no-untyped-def]
    PanopticDataset(source, TrainTransform(AugmentationConfig(short_side=48), source.classes))[0]


@pytest.mark.parametrize(
    ("reader", "hint"),
    [
        (cityscapes, "csCreatePanopticImgs"),
        (synthetic, "python -m reference_model.synthetic"),
        (coco, "panoptic_annotations_trainval2017.zip"),
        (vistas, "mapillary.com/dataset/vistas"),
        (idd, "createLabels.py"),
    ],
)
def test_missing_root_says_how_to_prepare(tmp_path: Path, reader, hint: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DatasetError, match=re.escape(hint)) as err:
        reader(tmp_path / "nowhere", "val")
    assert str(tmp_path / "nowhere") in str(err.value)


def test_missing_json_names_it(tmp_path: Path) -> None:
    (tmp_path / "gtFine").mkdir()
    with pytest.raises(
        DatasetError, match=r"cityscapes_panoptic_val\.json: file not found.*csCreate"
    ):
        cityscapes(tmp_path, "val")
    with pytest.raises(DatasetError, match=r"gtFine/val.*createLabels"):
        idd(tmp_path, "val")


def test_unparsable_and_wrong_json(coco_root: tuple[Path, dict]) -> None:
    root, _ = coco_root
    (root / JSON).write_text("{not json")
    with pytest.raises(DatasetError, match=r"panoptic_val2017\.json: invalid JSON"):
        coco(root, "val")
    (root / JSON).write_text(json.dumps({"images": []}))
    with pytest.raises(DatasetError, match="expected an object with an 'annotations' list"):
        coco(root, "val")
    (root / JSON).write_text(json.dumps({"annotations": []}))
    with pytest.raises(DatasetError, match="not a COCO-panoptic dataset"):
        coco(root, "val")


@pytest.mark.parametrize("name", ["../escape.png", "/etc/passwd", "a/../../b.png", ""])
def test_hostile_file_names_are_refused(coco_root: tuple[Path, dict], name: str) -> None:
    root, _ = coco_root
    _edit_json(root, lambda d: d["annotations"][0].update(file_name=name))
    with pytest.raises(
        DatasetError, match=r"\(image_id 139\): file_name .* (outside|absolute|not a)"
    ):
        coco(root, "val")


def test_hostile_image_name_is_refused(coco_root: tuple[Path, dict]) -> None:
    root, _ = coco_root
    _edit_json(root, lambda d: d["images"][1].update(file_name="../../secret.jpg"))
    with pytest.raises(DatasetError, match="points outside"):
        coco(root, "val")


def test_unknown_category_duplicate_segment_and_unknown_image(coco_root: tuple[Path, dict]) -> None:
    root, _ = coco_root
    _edit_json(root, lambda d: d["annotations"][0]["segments_info"][0].update(category_id=99))
    with pytest.raises(DatasetError, match=r"image_id 139\): unknown category ids \[99\]"):
        coco(root, "val")
    _edit_json(root, lambda d: d["annotations"][0]["segments_info"][0].update(category_id=7))

    def duplicate(d: dict) -> None:
        infos = d["annotations"][0]["segments_info"]
        infos[1]["id"] = infos[0]["id"]

    _edit_json(root, duplicate)
    with pytest.raises(DatasetError, match="duplicate segment ids"):
        coco(root, "val")
    _edit_json(root, lambda d: d["annotations"][0]["segments_info"].pop(1))
    _edit_json(root, lambda d: d["annotations"][0].update(image_id=12345))
    with pytest.raises(DatasetError, match="unknown image id 12345"):
        coco(root, "val")


def test_missing_image_is_named(coco_root: tuple[Path, dict]) -> None:
    root, _ = coco_root
    (root / "val2017" / "285.jpg").unlink()
    with pytest.raises(DatasetError, match=r"1 of 2 images are missing, e\.g\. .*285\.jpg"):
        coco(root, "val")


def test_png_ids_missing_from_json(coco_root: tuple[Path, dict]) -> None:
    root, _ = coco_root
    _edit_json(root, lambda d: d["annotations"][0]["segments_info"].pop(2))
    source = coco(root, "val")
    with pytest.raises(
        DatasetError, match=r"139\.png \(image_id 139 .*segment id \d+ is in the PNG"
    ):
        _load_first(source)


@pytest.mark.parametrize("bad_id", ["3", 3.7, None])
def test_segment_ids_are_checked_as_the_evaluation_checks_them(
    coco_root: tuple[Path, dict], bad_id: object
) -> None:
    """The evaluation's reader refuses a string or fractional segment id; so does training."""
    root, _ = coco_root
    _edit_json(root, lambda d: d["annotations"][1]["segments_info"][0].update(id=bad_id))
    with pytest.raises(PanopticInputError) as evaluation:
        load_coco_panoptic(root / JSON, root / "annotations" / "panoptic_val2017")
    with pytest.raises(DatasetError) as training:
        coco(root, "val")
    assert str(evaluation.value) in str(training.value)
    assert "image_id 285" in str(training.value)


def test_listed_segment_without_pixels_is_refused(coco_root: tuple[Path, dict]) -> None:
    root, _ = coco_root
    _edit_json(
        root, lambda d: d["annotations"][0]["segments_info"].append({"id": 9, "category_id": 7})
    )
    with pytest.raises(DatasetError, match=r"139\.png .*segment ids \[9\] are in the JSON"):
        _load_first(coco(root, "val"))


def test_corrupt_truncated_rgba_and_mismatched_pngs(coco_root: tuple[Path, dict]) -> None:
    root, _ = coco_root
    png = root / "annotations" / "panoptic_val2017" / "139.png"
    good = png.read_bytes()
    png.write_bytes(good[: len(good) // 2])
    with pytest.raises(DatasetError, match=r"139\.png \(image_id 139 .*corrupt or truncated PNG"):
        _load_first(coco(root, "val"))
    png.write_bytes(b"not a png at all")
    with pytest.raises(DatasetError, match=r"139\.png \(image_id 139 .*not a PNG file"):
        _load_first(coco(root, "val"))
    Image.new("RGBA", (96, 48)).save(png)
    with pytest.raises(DatasetError, match=r"139\.png \(image_id 139 .*colour type RGBA"):
        _load_first(coco(root, "val"))
    png.write_bytes(good)
    Image.open(png).crop((0, 0, 90, 48)).save(png)  # every segment keeps some pixels
    with pytest.raises(DatasetError, match=r"139\.png: ground truth is 90x48 but its image"):
        _load_first(coco(root, "val"))


def test_instance_png_of_wrong_mode(tmp_path: Path) -> None:
    gt = tmp_path / "gtFine" / "val" / "0"
    gt.mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(gt / "000001_gtFine_instancelevel3Ids.png")
    images = tmp_path / "leftImg8bit" / "val" / "0"
    images.mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(images / "000001_leftImg8bit.jpg")
    with pytest.raises(DatasetError, match="instanceIds PNGs must be 8- or 16-bit greyscale"):
        _load_first(idd(tmp_path, "val"))


def test_class_mapping_is_a_view_over_the_category_set() -> None:
    with pytest.raises(PanopticInputError, match="duplicate category ids"):
        CategorySet.from_coco(
            [{"id": 1, "name": "a", "isthing": 0}, {"id": 1, "name": "b", "isthing": 1}]
        )
    mapping = ClassMapping(
        CategorySet.from_coco(
            [{"id": 5, "name": "t", "isthing": 1}, {"id": 2, "name": "s", "isthing": 0}]
        )
    )
    assert mapping.category_ids == mapping.categories.contiguous_ids == (2, 5)
    assert (mapping.n_stuff, mapping.n_things) == (1, 1)
    assert mapping.class_indices(np.array([5, 2, 5]), source="x").tolist() == [1, 0, 1]
    assert mapping.class_index(5) == 1
    with pytest.raises(KeyError):
        mapping.class_index(3)
    with pytest.raises(PanopticInputError, match=r"x: unknown category ids \[3\]"):
        mapping.class_indices(np.array([3]), source="x")
    many = CategorySet.from_coco([{"id": i, "name": str(i), "isthing": 0} for i in range(255)])
    with pytest.raises(ValueError, match="at most 254 classes"):
        ClassMapping(many)
