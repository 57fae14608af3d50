"""The reader pieces that the reference model's data pipeline builds on as well: the Cityscapes
instance-id encoding for any category set (IDD), the dense segment index of an image, the
RGB encoding of ids, and category colours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from panoptic_metrics import (
    Category,
    CategorySet,
    PanopticInputError,
    from_instance_ids,
    from_segments,
    read_panoptic_png,
)
from panoptic_metrics.io import ids_to_rgb
from PIL import Image

# IDD-like: category 0 (road) is a class, so segment ids are the values + 1 (0 is void).
ROAD, SKY, PERSON = Category(0, "road", False), Category(25, "sky", False), Category(4, "p", True)
IDD_LIKE = CategorySet((ROAD, SKY, PERSON))


def test_instance_ids_of_a_set_with_category_0() -> None:
    """road 0, sky 25, person instance 4000 (instance 0 of label 4), a crowd of persons (bare
    4), void 255 (not a category: void without `void_labels`)."""
    values = np.array([[25, 25, 4000, 255], [0, 0, 4, 4]])
    image = from_instance_ids(values, IDD_LIKE, image_id="a", source="a.png")
    # present values in order 0, 4, 25, 4000 (255 dropped): segment id = value + 1
    assert image.segments.ids.tolist() == [1, 5, 26, 4001]
    assert image.segments.category_ids.tolist() == [0, 4, 25, 4]
    assert image.segments.iscrowd.tolist() == [False, True, False, False]
    assert image.segments.areas.tolist() == [2, 2, 2, 1]
    assert image.ids.tolist() == [[26, 26, 4001, 0], [1, 1, 5, 5]]
    # the dense index follows the segment list: 1 = value 0, 2 = 4, 3 = 25, 4 = 4000
    assert image.dense_index().tolist() == [[3, 3, 4, 0], [1, 1, 2, 2]]


def test_instance_ids_with_void_labels_refuse_unknown_labels() -> None:
    values = np.array([[25, 255], [7, 0]])
    with pytest.raises(PanopticInputError, match=r"x\.png: values \[7\] have no label"):
        from_instance_ids(values, IDD_LIKE, void_labels={255}, source="x.png")
    with pytest.raises(PanopticInputError, match=r"x\.png: instance ids must be in 0\.\.16777215"):
        from_instance_ids(np.array([[-1]]), IDD_LIKE, source="x.png")
    # without label 0 in the set the ids are the values themselves (cityscapesscripts' ids)
    sky_only = from_instance_ids(values, CategorySet((SKY,)), source="x.png")
    assert sky_only.segments.ids.tolist() == [25]


def test_dense_index_is_checked_as_the_matching_checks() -> None:
    segments = [{"id": 9, "category_id": 25}, {"id": 3, "category_id": 0}]
    image = from_segments(np.array([[3, 9], [0, 9]]), segments, source="s")
    assert image.dense_index().tolist() == [[2, 1], [0, 1]]  # position in the list, 1-based
    stray = from_segments(np.array([[3, 9], [5, 9]]), segments, source="s")
    with pytest.raises(PanopticInputError, match="s: segment id 5 is in the PNG but not"):
        stray.dense_index()
    unused = from_segments(np.array([[9, 9]]), segments, source="s")
    with pytest.raises(PanopticInputError, match=r"s: segment ids \[3\] are in the JSON"):
        unused.dense_index()


def test_ids_to_rgb_is_what_the_png_reader_decodes(tmp_path: Path) -> None:
    ids = np.array([[0, 1, 255, 256], [65535, 65536, 1 << 23, (1 << 24) - 1]])
    Image.fromarray(ids_to_rgb(ids)).save(tmp_path / "ids.png")
    assert np.array_equal(read_panoptic_png(tmp_path / "ids.png"), ids)
    with pytest.raises(ValueError, match="must be in"):
        ids_to_rgb(np.array([[1 << 24]]))


def test_category_colours_are_read_kept_and_written_but_not_compared() -> None:
    coloured = CategorySet.from_coco(
        [
            {"id": 7, "name": "road", "isthing": 0, "color": [128, 64, 128]},
            {"id": 26, "name": "car", "isthing": 1, "color": [0, 0, 300]},  # not a colour
        ]
    )
    assert [c.color for c in coloured.categories] == [(128, 64, 128), None]
    assert coloured.to_coco() == [
        {"id": 7, "name": "road", "isthing": 0, "color": [128, 64, 128]},
        {"id": 26, "name": "car", "isthing": 1},
    ]
    plain = CategorySet((Category(7, "road", False), Category(26, "car", True)))
    assert coloured == plain
