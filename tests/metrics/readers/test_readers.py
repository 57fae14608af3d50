"""One reader per format: COCO panoptic, Cityscapes instanceIds, in-memory arrays, __array__."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from panoptic_metrics import (
    CategorySet,
    PanopticAccumulator,
    PanopticInputError,
    cityscapes_categories,
    encode_label_divisor,
    evaluate_cityscapes,
    evaluate_coco,
    from_category_instance,
    from_label_divisor,
    from_segments,
    load_coco_panoptic,
    read_cityscapes_instance_ids,
    read_coco_panoptic_image,
    read_panoptic_png,
)
from panoptic_metrics.groups import cityscapes_groups

from tests.metrics.conftest import CocoSet
from tests.metrics.panoptic_data import CATEGORIES, STUFF_IDS, THING_IDS

CATS = CategorySet.from_coco(CATEGORIES)


def test_png_ids_equal_panopticapi_rgb2id(random_set: CocoSet) -> None:
    from panopticapi.utils import rgb2id
    from PIL import Image

    buffer = None
    for png in sorted(random_set.pred_folder.glob("*.png")):
        theirs = rgb2id(np.array(Image.open(png), dtype=np.uint32))
        ours = read_panoptic_png(png, out=buffer)
        assert ours.dtype == np.uint32
        assert np.array_equal(ours, theirs)
        if buffer is None:
            buffer = ours
        assert ours is buffer  # decoded into the reused buffer
    with pytest.raises(ValueError, match="out must be a C-contiguous"):
        read_panoptic_png(png, out=np.empty((3, 3), np.uint32))


def test_coco_reader_with_string_image_ids(realistic_set: CocoSet) -> None:
    gt = load_coco_panoptic(realistic_set.gt_json, realistic_set.gt_folder)
    content = json.loads(realistic_set.gt_json.read_text())
    assert list(gt.images) == [a["image_id"] for a in content["annotations"]]
    assert all(isinstance(i, str) for i in gt.images)
    assert gt.categories == CategorySet.from_coco(content["categories"])
    first = content["annotations"][0]
    image = read_coco_panoptic_image(
        realistic_set.gt_json, realistic_set.gt_folder, first["image_id"]
    )
    assert image.segments.ids.tolist() == [s["id"] for s in first["segments_info"]]
    assert image.segments.areas.tolist() == [s["area"] for s in first["segments_info"]]
    values, counts = np.unique(image.ids[image.ids > 0], return_counts=True)
    assert dict(zip(values.tolist(), counts.tolist(), strict=True)) == {
        s["id"]: s["area"] for s in first["segments_info"]
    }


def test_cityscapes_reader_equals_cityscapesscripts_panoptic_conversion(
    synthetic_root: Path,
) -> None:
    """The synthetic COCO-panoptic gt is cityscapesscripts' own conversion of the same gtFine
    (checked in tests/reference_model/test_synthetic.py): reading instanceIds must equal it."""
    gt_json = synthetic_root / "gtFine" / "cityscapes_panoptic_val.json"
    coco = load_coco_panoptic(gt_json, synthetic_root / "gtFine" / "cityscapes_panoptic_val")
    assert cityscapes_categories() == coco.categories
    for image_id, source in coco.images.items():
        city = str(image_id).split("_")[0]
        path = synthetic_root / "gtFine" / "val" / city / f"{image_id}_gtFine_instanceIds.png"
        ours, theirs = read_cityscapes_instance_ids(path), source.load()
        assert ours.image_id == image_id
        assert np.array_equal(ours.ids, theirs.ids)
        for field in ("ids", "category_ids", "iscrowd", "areas"):
            assert np.array_equal(getattr(ours.segments, field), getattr(theirs.segments, field))


def test_cityscapes_evaluation_equals_coco_evaluation(
    synthetic_root: Path, realistic_set: CocoSet
) -> None:
    # evaluate_cityscapes reports the Cityscapes category groups by default
    groups = cityscapes_groups()
    coco = evaluate_coco(*realistic_set.args(), workers=1, progress=False, groups=groups)
    cityscapes = evaluate_cityscapes(
        synthetic_root / "gtFine" / "val",
        realistic_set.pred_json,
        realistic_set.pred_folder,
        workers=1,
        progress=False,
    )
    assert cityscapes.to_json() == coco.to_json()


def test_cityscapes_reader_refuses_rgb(random_set: CocoSet) -> None:
    png = next(random_set.gt_folder.glob("*.png"))
    with pytest.raises(PanopticInputError, match="must be 8- or 16-bit greyscale"):
        read_cityscapes_instance_ids(png)


def test_category_and_instance_maps() -> None:
    """3x4 image: road (stuff, instance ids ignored), car instances 1 and 2, a crowd car
    (instance 0), a void pixel (255)."""
    road, car = STUFF_IDS[0], THING_IDS[1]
    cat = np.array([[road, road, car, car], [road, road, car, car], [road, 255, car, car]])
    inst = np.array([[5, 6, 1, 1], [0, 0, 2, 2], [0, 9, 0, 0]])
    image = from_category_instance(cat, inst, CATS)
    seg = image.segments
    assert len(seg) == 4
    by_id = {
        int(i): (int(c), bool(k))
        for i, c, k in zip(seg.ids, seg.category_ids, seg.iscrowd, strict=True)
    }
    assert sorted(by_id.values()) == sorted(
        [(road, False), (car, False), (car, False), (car, True)]
    )
    assert image.ids[2, 1] == 0
    assert len(set(image.ids[:, :2].ravel().tolist()) - {0}) == 1  # one road segment
    with pytest.raises(PanopticInputError, match=r"unknown category ids \[77\]"):
        from_category_instance(np.full((2, 2), 77), np.zeros((2, 2), np.int64), CATS)


def test_label_divisor_round_trip_and_overflow_checks() -> None:
    rng = np.random.default_rng(0)
    cat = rng.choice([*STUFF_IDS, *THING_IDS], size=(6, 8))
    inst = rng.integers(0, 3, size=(6, 8))
    encoded = encode_label_divisor(cat, inst, 1000)
    assert np.array_equal(encoded, cat * 1000 + inst)
    a = from_label_divisor(encoded, CATS, label_divisor=1000)
    b = from_category_instance(cat, inst, CATS)
    assert np.array_equal(a.ids, b.ids)
    with pytest.raises(ValueError, match="does not fit under label_divisor 1000"):
        encode_label_divisor(cat, inst + 1000, 1000)
    with pytest.raises(ValueError, match="overflows int64"):
        encode_label_divisor(np.full((1, 1), 1 << 62), np.zeros((1, 1), np.int64), 1000)
    with pytest.raises(PanopticInputError, match="negative value"):
        from_label_divisor(-encoded, CATS)


class _ArrayLike:
    """Anything exposing __array__ (a stand-in for other array libraries)."""

    def __init__(self, array: np.ndarray) -> None:
        self._array = array

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self._array if dtype is None else self._array.astype(dtype)


def _road_and_car() -> tuple[np.ndarray, list[dict[str, int]]]:
    ids = np.array([[1, 1, 2, 2], [1, 1, 2, 2]])
    return ids, [{"id": 1, "category_id": STUFF_IDS[0]}, {"id": 2, "category_id": THING_IDS[0]}]


def test_array_like_inputs() -> None:
    ids, segments = _road_and_car()
    image = from_segments(_ArrayLike(ids), segments)
    assert np.array_equal(image.ids, ids)
    with pytest.raises(PanopticInputError, match=r"expected a 2-D \(H, W\) map"):
        from_segments(np.zeros((2, 2, 3), np.int64), segments)
    assert np.array_equal(from_segments(ids.tolist(), segments).ids, ids)  # nested lists too
    with pytest.raises(PanopticInputError, match="expected an array, got str"):
        from_segments("1122", segments)
    with pytest.raises(PanopticInputError, match="not a rectangular array"):
        from_segments([[1, 1], [2]], segments)


@pytest.mark.needs_torch
def test_torch_tensors() -> None:
    import torch

    ids, segments = _road_and_car()
    acc = PanopticAccumulator(CATS)
    acc.update(
        from_segments(torch.from_numpy(ids), segments), from_segments(torch.tensor(ids), segments)
    )
    assert acc.compute().pq == 1.0
