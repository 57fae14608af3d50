"""The COCO reader keeps flat arrays and builds each image's source when it is looked up: the
sources, the pairs and their order must be those of a plain per-image reading of the JSON, and
nothing the JSON parse made may be kept (it would keep the parse's memory pages in use)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from panoptic_metrics import load_coco_panoptic
from panoptic_metrics.readers import pair_images
from panoptic_metrics.readers.coco import CocoImages, SegmentTable, parse_coco_panoptic
from panoptic_metrics.segmentation import Segments

from tests.metrics.conftest import CocoSet


def plain(annotation: dict[str, Any], folder: Path) -> tuple[Any, ...]:
    """One annotation read directly from the JSON: what its source must hold."""
    info = annotation["segments_info"]
    return (
        annotation["image_id"],
        folder / annotation["file_name"],
        [s["id"] for s in info],
        [s["category_id"] for s in info],
        [bool(s.get("iscrowd", 0)) for s in info],
        [s.get("area", -1) for s in info],
    )


def held(source: Any) -> tuple[Any, ...]:
    segments = source.segments
    return (
        source.image_id,
        source.path,
        segments.ids.tolist(),
        segments.category_ids.tolist(),
        segments.iscrowd.tolist(),
        segments.areas.tolist(),
    )


@pytest.mark.parametrize("which", ["gt", "pred"])
def test_sources_hold_what_the_json_says(random_set: CocoSet, which: str) -> None:
    json_path = random_set.gt_json if which == "gt" else random_set.pred_json
    folder = random_set.gt_folder if which == "gt" else random_set.pred_folder
    content = json.loads(json_path.read_text())
    coco = load_coco_panoptic(json_path, folder)
    assert isinstance(coco.images, CocoImages)
    assert list(coco.images) == [a["image_id"] for a in content["annotations"]]
    assert len(coco.images) == len(content["annotations"])
    for annotation in reversed(content["annotations"]):  # looked up in any order
        assert held(coco.images[annotation["image_id"]]) == plain(annotation, folder)
    assert "no such id" not in coco.images
    with pytest.raises(KeyError):
        coco.images["no such id"]


def test_image_sizes_from_the_images_list(tmp_path: Path) -> None:
    annotations = [{"image_id": k, "file_name": f"{k}.png", "segments_info": []} for k in range(4)]
    images = [
        {"id": 0, "height": 480, "width": 640},
        {"id": 1, "height": -3, "width": 2**70},  # kept as given: no int64 can hold it
        {"id": 3, "height": 1, "width": "2"},  # not an integer: no size
    ]
    coco = parse_coco_panoptic({"annotations": annotations, "images": images}, "x.json", tmp_path)
    assert [coco.images[k].size for k in range(4)] == [(480, 640), (-3, 2**70), None, None]


def test_nothing_of_the_parse_is_kept(tmp_path: Path) -> None:
    """Ids, names and sizes are new objects: kept, the parse's would pin its memory."""
    ids: list[Any] = [10**12 + k for k in range(3)] + ["a string id"]
    data = {
        "annotations": [
            {"image_id": i, "file_name": f"img{k}.png", "segments_info": []}
            for k, i in enumerate(ids)
        ],
        "images": [{"id": ids[0], "height": 10**6, "width": 10**6 + 1}],
    }
    coco = parse_coco_panoptic(data, "x.json", tmp_path)
    for annotation, image_id in zip(data["annotations"], coco.images.image_ids, strict=True):
        assert image_id == annotation["image_id"]
        assert image_id is not annotation["image_id"]
    for annotation, name in zip(data["annotations"], coco.images.file_names, strict=True):
        assert name == annotation["file_name"]
        assert name is not annotation["file_name"]
    assert coco.images[ids[0]].size == (10**6, 10**6 + 1)


def test_segment_table_indexing() -> None:
    parts = [
        Segments(np.array([3, 1]), np.array([7, 8]), np.array([False, True]), np.array([5, -1])),
        Segments(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0)),
        Segments(np.array([9]), np.array([7]), np.array([False]), np.array([2])),
    ]
    table = SegmentTable.concat(parts)
    assert len(table) == 3
    assert table.offsets.tolist() == [0, 2, 2, 3]
    assert table.ids.dtype == np.int32  # kept narrow where the values fit ...
    for k in range(3):  # ... and read back as `Segments.from_info` makes them
        assert [a.dtype for a in (table[k].ids, table[k].category_ids, table[k].areas)] == [
            np.int64
        ] * 3
        assert table[k].iscrowd.dtype == np.bool_
    wide = SegmentTable.concat([Segments(*(np.array([v]) for v in (2**40, 2**31, False, -1)))])
    assert wide[0].ids.tolist() == [2**40]
    assert wide[0].category_ids.tolist() == [2**31]
    for k in (0, 1, 2, -1, -3):
        assert table[k].ids.tolist() == parts[k].ids.tolist()
        assert table[k].iscrowd.tolist() == parts[k].iscrowd.tolist()
    assert [len(s) for s in table[1:]] == [0, 1]
    with pytest.raises(IndexError):
        table[3]
    assert len(SegmentTable.concat([])) == 0


def test_pairs_in_ground_truth_order(random_set: CocoSet) -> None:
    gt = load_coco_panoptic(random_set.gt_json, random_set.gt_folder)
    pred = load_coco_panoptic(random_set.pred_json, random_set.pred_folder)
    pairs = pair_images(gt.images, pred.images, gt_name="gt", pred_name="pred")
    expected = [(held(gt.images[i]), held(pred.images[i])) for i in gt.images]
    assert [(held(g), held(p)) for g, p in pairs] == expected
    assert len(pairs) == len(expected)
    assert (held(pairs[-1][0]), held(pairs[-1][1])) == expected[-1]
    assert [(held(g), held(p)) for g, p in pairs[1:3]] == expected[1:3]
    with pytest.raises(IndexError):
        pairs[len(expected)]
    # plain mappings (the Cityscapes reader's dict) pair the same way
    as_dicts = pair_images(dict(gt.images), dict(pred.images), gt_name="gt", pred_name="pred")
    assert [(held(g), held(p)) for g, p in as_dicts] == expected
    # a spawned worker gets its batch's pairs pickled
    again = pickle.loads(pickle.dumps(list(pairs[:2])))
    assert [(held(g), held(p)) for g, p in again] == expected[:2]
