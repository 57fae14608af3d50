"""Qualitative panels: error maps on hand-made maps, agreement with the metrics, image choice,
and hostile or broken inputs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from panoptic_metrics import (
    Category,
    CategorySet,
    PanopticImage,
    PanopticInputError,
    Segments,
    load_coco_panoptic,
)
from PIL import Image

from reports.categories import category_colours
from reports.groundtruth import locate
from reports.overlays import colourise, error_map, matched_pairs, overlay
from reports.panels import choose_images, qualitative_panels
from reports.photos import read_rgb
from reports.runs import load_run

ROAD, SIDEWALK, CAR = 7, 8, 26
CATEGORIES = CategorySet(
    (
        Category(ROAD, "road", False),
        Category(SIDEWALK, "sidewalk", False),
        Category(CAR, "car", True),
    )
)


def _image(
    ids: Any, categories: dict[int, int], crowd: frozenset[int] = frozenset()
) -> PanopticImage:
    keys = sorted(categories)
    segments = Segments(
        np.array(keys, dtype=np.int64),
        np.array([categories[k] for k in keys], dtype=np.int64),
        np.array([k in crowd for k in keys]),
        np.full(len(keys), -1, dtype=np.int64),
    )
    return PanopticImage(np.array(ids, dtype=np.int64), segments)


def test_error_map_codes_by_hand() -> None:
    # Ground truth: road (1) on the left half, a car (2) on the right, one void pixel (0).
    gt = _image([[1, 1, 2, 2], [1, 1, 2, 2], [1, 1, 2, 2], [1, 1, 2, 0]], {1: ROAD, 2: CAR})
    # Prediction: the road exactly (5); a car (6) on 2 of the car's 7 pixels plus 1 void pixel,
    # so IoU 2 / (7 + 3 - 2 - 1) = 2/7 <= 0.5; one sidewalk pixel (7); the rest of the car void.
    pred = _image(
        [[5, 5, 6, 6], [5, 5, 7, 0], [5, 5, 0, 0], [5, 5, 0, 6]], {5: ROAD, 6: CAR, 7: SIDEWALK}
    )
    codes = error_map(gt, pred, CATEGORIES)
    expected = np.array([[0, 0, 2, 2], [0, 0, 1, 3], [0, 0, 3, 3], [0, 0, 3, 0]])
    np.testing.assert_array_equal(codes, expected)


def test_crowd_and_void_ground_truth_are_never_errors() -> None:
    gt = _image([[1, 1, 3, 3], [0, 0, 3, 3]], {1: ROAD, 3: CAR}, frozenset({3}))  # 3: crowd
    pred = _image([[4, 4, 0, 0], [4, 4, 4, 4]], {4: SIDEWALK})
    codes = error_map(gt, pred, CATEGORIES)
    np.testing.assert_array_equal(codes, [[1, 1, 0, 0], [0, 0, 0, 0]])


def test_matching_folds_prediction_on_void_as_pq_does() -> None:
    # The car (2) has 3 pixels; the prediction (9) covers them and 4 void pixels: IoU with void
    # folded = 3 / (3 + 7 - 3 - 4) = 1 (matched); without folding it would be 3/7 (unmatched).
    gt = _image([[2, 2, 2, 0, 0, 0, 0, 1]], {1: ROAD, 2: CAR})
    as_car = _image([[9, 9, 9, 9, 9, 9, 9, 8]], {9: CAR, 8: ROAD})
    assert matched_pairs(gt, as_car, CATEGORIES) == {(2, 9), (1, 8)}
    as_road = _image([[9, 9, 9, 9, 9, 9, 9, 8]], {9: ROAD, 8: ROAD})
    assert matched_pairs(gt, as_road, CATEGORIES) == {(1, 8)}


def test_fragments_of_a_matched_segment_are_errors() -> None:
    # Road (1) of 8 pixels predicted as two road segments: 5 (6 pixels, IoU 6/8 > 0.5, the
    # match) and 6 (2 pixels, IoU 2/8): PQ counts 6 as a false positive, so its pixels are
    # "right class, not matched" although their class is right.
    gt = _image([[1, 1, 1, 1, 1, 1, 1, 1]], {1: ROAD})
    pred = _image([[5, 5, 5, 5, 5, 5, 6, 6]], {5: ROAD, 6: ROAD})
    assert matched_pairs(gt, pred, CATEGORIES) == {(1, 5)}
    np.testing.assert_array_equal(error_map(gt, pred, CATEGORIES), [[0, 0, 0, 0, 0, 0, 2, 2]])


def test_matched_segments_agree_with_the_metrics_per_image(complete_runs: list[Path]) -> None:
    # A gt segment is a TP exactly when some of its pixels are correct (code 0 on an
    # evaluated, predicted pixel): its matched partner covers part of it, and every pixel of
    # an unmatched one is an error. So per image, their number is metrics.json's `tp`.
    run = complete_runs[0]
    runs = [load_run(run)]
    paths = locate(runs)
    gt = load_coco_panoptic(paths.json, paths.png_folder)
    assert gt.categories is not None
    pred = load_coco_panoptic(
        run / "predictions" / "panoptic.json",
        run / "predictions" / "panoptic",
        categories=gt.categories,
    )
    per_image = json.loads((run / "metrics.json").read_text())["per_image"]
    assert sum(e["tp"] for e in per_image) > 0
    for entry in per_image:
        truth = gt.images[entry["image_id"]].load()
        guess = pred.images[entry["image_id"]].load()
        codes = error_map(truth, guess, gt.categories)
        correct = (codes == 0) & (guess.ids != 0) & (truth.ids != 0)
        crowd = truth.segments.ids[truth.segments.iscrowd]
        found = set(np.unique(truth.ids[correct]).tolist()) - set(crowd.tolist())
        assert len(found) == entry["tp"], entry["image_id"]
        assert len(matched_pairs(truth, guess, gt.categories)) == entry["tp"]


def test_overlay_dims_void_and_paints_segments_with_their_colour() -> None:
    ids = np.array([[0, 0], [4, 4]])
    image = np.full((2, 2, 3), 200, np.uint8)
    colours = colourise(ids, {4: ROAD}, {ROAD: (128, 64, 128)}, frozenset())
    assert np.isnan(colours[0]).all()
    out = overlay(image, colours, alpha=0.5)
    np.testing.assert_array_equal(out[0, 0], [90, 90, 90])  # 0.45 * 200
    # The boundary row (ids differ from the row above) is drawn light: 0.5*200 + 0.5*235.
    np.testing.assert_array_equal(out[1, 0], [217, 217, 217])


def test_photos_that_cannot_be_read_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    with pytest.raises(PanopticInputError, match=r"bad\.png: is not a readable image"):
        read_rgb(bad)
    with pytest.raises(PanopticInputError, match=r"absent\.png: file not found"):
        read_rgb(tmp_path / "absent.png")
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(small)
    assert read_rgb(small, (8, 12)).shape == (8, 12, 3)  # photos are resized to the gt


def test_the_worst_image_by_pq_comes_first(complete_runs: list[Path]) -> None:
    runs = [load_run(p) for p in complete_runs]
    per_image = json.loads((complete_runs[0] / "metrics.json").read_text())["per_image"]
    ranked = sorted(per_image, key=lambda e: (e["pq"], e["image_id"]))
    ids = [e["image_id"] for e in per_image]
    chosen = choose_images(runs, ids, 3)
    assert [c.image_id for c in chosen] == [
        ranked[0]["image_id"],
        ranked[len(ranked) // 2]["image_id"],
        ranked[-1]["image_id"],
    ]
    assert chosen[0].why == f"worst by PQ of combined: {100 * ranked[0]['pq']:.1f}"
    assert len({c.image_id for c in choose_images(runs, ids, 6)}) == 6


def test_panels_show_each_run_and_skip_what_is_broken(
    copy_runs: Callable[[], list[Path]],
) -> None:
    paths = copy_runs()
    runs = [load_run(p) for p in paths]
    gt = locate(runs)
    plots, notices = qualitative_panels(runs, gt, category_colours(runs), 2)
    assert notices == []
    assert len(plots) == 2
    assert all(p.png.startswith(b"\x89PNG") for p in plots)
    # Now a hostile file_name in one run, and a wrongly sized PNG in the other.
    pred = json.loads((paths[0] / "predictions" / "panoptic.json").read_text())
    pred["annotations"][0]["file_name"] = "../../../../etc/passwd"
    (paths[0] / "predictions" / "panoptic.json").write_text(json.dumps(pred))
    other = json.loads((paths[1] / "predictions" / "panoptic.json").read_text())
    for ann in other["annotations"]:
        png = paths[1] / "predictions" / "panoptic" / ann["file_name"]
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(png)
    runs = [load_run(p) for p in paths]
    plots, notices = qualitative_panels(runs, locate(runs), category_colours(runs), 2)
    assert len(plots) == 2  # ground truth and images still shown
    assert any(
        n.startswith("combined: no predictions for the panels: ")
        and "file_name '../../../../etc/passwd' points outside its folder" in n
        for n in notices
    ), notices
    assert any(
        n.startswith("independent: ")
        and "is 8x8 (width x height) but its ground truth is 128x64" in n
        for n in notices
    ), notices


def test_big_images_are_drawn_from_a_subsample(
    complete_runs: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import reports.panels

    runs = [load_run(p) for p in complete_runs]
    full, _ = qualitative_panels(runs, locate(runs), category_colours(runs), 1)
    monkeypatch.setattr(reports.panels, "MAX_TILE_WIDTH", 50)  # 128 px wide: every 3rd pixel
    small, notices = qualitative_panels(runs, locate(runs), category_colours(runs), 1)
    assert notices == []
    assert small[0].caption == full[0].caption
    # The error share in the tile titles is measured at full resolution, so it is unchanged;
    # only the pictures are smaller, which shows in the encoded size.
    assert len(small[0].png) < len(full[0].png)
