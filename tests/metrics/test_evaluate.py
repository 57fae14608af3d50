"""Dataset evaluation: worker-count independence, progress bar, small per-image state."""

from __future__ import annotations

import sys

import pytest
from panoptic_metrics import evaluate_coco, load_coco_panoptic
from panoptic_metrics.evaluate import evaluate_pairs
from panoptic_metrics.readers import pair_images

from tests.metrics.conftest import CocoSet


def test_results_are_identical_for_any_worker_count(random_set: CocoSet) -> None:
    runs = [
        evaluate_coco(*random_set.args(), workers=w, progress=False).to_json() for w in (1, 2, 3)
    ]
    assert runs[0] == runs[1] == runs[2]  # bit for bit: images are added in dataset order
    assert runs[0]["n_images"] == 28


def test_progress_bar_and_its_absence(
    random_set: CocoSet, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with_bar = evaluate_coco(*random_set.args(), workers=1, progress=True)
    assert "panoptic" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "tqdm", None)  # tqdm not installed: no bar, same results
    without = evaluate_coco(*random_set.args(), workers=1, progress=True)
    assert "panoptic" not in capsys.readouterr().err
    assert without.to_json() == with_bar.to_json()


def test_workers_send_back_only_a_small_state(random_set: CocoSet) -> None:
    """What crosses the process boundary per image: a few classes' sums and a histogram entry
    per gt segment, whatever the image size (48x64 here, 2048x1024 in Cityscapes)."""
    from panoptic_metrics.evaluate import MatchSettings, _Worker

    gt = load_coco_panoptic(random_set.gt_json, random_set.gt_folder)
    assert gt.categories is not None
    pred = load_coco_panoptic(random_set.pred_json, random_set.pred_folder)
    pairs = pair_images(gt.images, pred.images, gt_name="gt", pred_name="pred")
    worker = _Worker(
        MatchSettings(categories=gt.categories, mode="strict", n_bins=20, max_pixels=1 << 27)
    )
    for pair in pairs:
        stats, instances = worker(pair)
        assert instances is None  # no mask AP asked for
        size = sum(a.nbytes for a in (stats.classes, stats.sums, stats.hist_class, stats.hist_bin))
        assert size <= 56 * len(gt.categories) + 16 * len(pair[0].segments)
    assert worker.buffers is not None
    assert worker.buffers[0].shape == (48, 64)  # one pair of buffers, reused


def test_invalid_worker_count(random_set: CocoSet) -> None:
    gt = load_coco_panoptic(random_set.gt_json, random_set.gt_folder)
    assert gt.categories is not None
    with pytest.raises(ValueError, match="workers must be >= 1"):
        evaluate_pairs([], gt.categories, workers=0)
    with pytest.raises(ValueError, match="mode must be one of"):
        evaluate_coco(*random_set.args(), mode="loose", workers=1)  # type: ignore[arg-type]
