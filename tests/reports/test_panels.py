"""Qualitative panels: error maps on hand-made maps, image choice, and hostile or broken inputs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reports.categories import run_categories
from reports.groundtruth import locate
from reports.overlays import colourise, error_map, matched_pairs, overlay
from reports.panels import choose_images, qualitative_panels
from reports.panoptic_io import ReportInputError, child_path, read_segment_ids
from reports.runs import load_run

ROAD, SIDEWALK, CAR = 7, 8, 26


def test_error_map_codes_by_hand() -> None:
    # Ground truth: road (1) on the left half, a car (2) on the right, one void pixel (0).
    gt = np.array([[1, 1, 2, 2], [1, 1, 2, 2], [1, 1, 2, 2], [1, 1, 2, 0]])
    # Prediction: the road exactly (5); a car (6) on 2 of the car's 7 pixels, so IoU 2/7 <= 0.5;
    # one sidewalk pixel (7); the rest of the car left void.
    pred = np.array([[5, 5, 6, 6], [5, 5, 7, 0], [5, 5, 0, 0], [5, 5, 0, 6]])
    codes = error_map(gt, {1: ROAD, 2: CAR}, frozenset(), pred, {5: ROAD, 6: CAR, 7: SIDEWALK})
    expected = np.array([[0, 0, 2, 2], [0, 0, 1, 3], [0, 0, 3, 3], [0, 0, 3, 0]])
    np.testing.assert_array_equal(codes, expected)


def test_crowd_and_void_ground_truth_are_never_errors() -> None:
    gt = np.array([[1, 1, 3, 3], [0, 0, 3, 3]])  # 3 is a crowd region of cars
    pred = np.array([[4, 4, 0, 0], [4, 4, 4, 4]])
    codes = error_map(gt, {1: ROAD, 3: CAR}, frozenset({3}), pred, {4: SIDEWALK})
    np.testing.assert_array_equal(codes, [[1, 1, 0, 0], [0, 0, 0, 0]])


def test_matching_folds_prediction_on_void_as_pq_does() -> None:
    # The car (2) has 3 pixels; the prediction (9) covers them and 4 void pixels: IoU with void
    # folded = 3 / (3 + 7 - 3 - 4) = 1 (matched); without folding it would be 3/7 (unmatched).
    gt = np.array([[2, 2, 2, 0, 0, 0, 0, 1]])
    pred = np.array([[9, 9, 9, 9, 9, 9, 9, 8]])
    assert matched_pairs(gt, {1: ROAD, 2: CAR}, pred, {9: CAR, 8: ROAD}) == {(2, 9), (1, 8)}
    assert matched_pairs(gt, {1: ROAD, 2: CAR}, pred, {9: ROAD, 8: ROAD}) == {(1, 8)}


def test_overlay_dims_void_and_paints_segments_with_their_colour() -> None:
    ids = np.array([[0, 0], [4, 4]])
    image = np.full((2, 2, 3), 200, np.uint8)
    colours = colourise(ids, {4: ROAD}, {ROAD: (128, 64, 128)}, frozenset())
    assert np.isnan(colours[0]).all()
    out = overlay(image, colours, alpha=0.5)
    np.testing.assert_array_equal(out[0, 0], [90, 90, 90])  # 0.45 * 200
    # The boundary row (ids differ from the row above) is drawn light: 0.5*200 + 0.5*235.
    np.testing.assert_array_equal(out[1, 0], [217, 217, 217])


def test_child_path_refuses_paths_leaving_the_folder(tmp_path: Path) -> None:
    src = tmp_path / "panoptic.json"
    for name in ("../x.png", "/etc/passwd", "a/../../x.png", "C:\\x.png", ""):
        with pytest.raises(ReportInputError, match=r"panoptic\.json: file_name"):
            child_path(tmp_path, name, src)
    assert child_path(tmp_path, "a/b.png", src) == tmp_path / "a" / "b.png"


def test_corrupt_and_oversized_pngs_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    with pytest.raises(ReportInputError, match=r"bad\.png is not a readable image"):
        read_segment_ids(bad)
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(small)
    with pytest.raises(ReportInputError, match=r"small\.png is 4x6, the ground truth is 5x6"):
        read_segment_ids(small, (5, 6))


def test_the_worst_image_by_pq_comes_first(complete_runs: list[Path]) -> None:
    runs = [load_run(p) for p in complete_runs]
    per_image = json.loads((complete_runs[0] / "metrics.json").read_text())["per_image"]
    ranked = sorted(per_image, key=lambda e: e["pq"])
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
    plots, notices = qualitative_panels(runs, gt, run_categories(runs), 2)
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
    plots, notices = qualitative_panels(runs, locate(runs), run_categories(runs), 2)
    assert len(plots) == 2  # ground truth and images still shown
    assert any("combined: no predictions" in n and "points outside" in n for n in notices)
    assert any("independent:" in n and "is 8x8, the ground truth is 64x128" in n for n in notices)


def test_big_images_are_drawn_from_a_subsample(
    complete_runs: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import reports.panels

    runs = [load_run(p) for p in complete_runs]
    full, _ = qualitative_panels(runs, locate(runs), run_categories(runs), 1)
    monkeypatch.setattr(reports.panels, "MAX_TILE_WIDTH", 50)  # 128 px wide: every 3rd pixel
    small, notices = qualitative_panels(runs, locate(runs), run_categories(runs), 1)
    assert notices == []
    assert small[0].caption == full[0].caption
    # The error share in the tile titles is measured at full resolution, so it is unchanged;
    # only the pictures are smaller, which shows in the encoded size.
    assert len(small[0].png) < len(full[0].png)
