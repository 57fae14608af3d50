"""Dataset evaluation: worker-count independence, progress bar, small per-image state."""

from __future__ import annotations

import multiprocessing
import sys

import pytest
from panoptic_metrics import CategorySet, evaluate_coco, load_coco_panoptic
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


def test_a_first_run_compiles_the_matching_beside_and_the_results_do_not_change(
    random_set: CocoSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_compile_beside` forks a process that compiles the matching kernels on a tiny pair
    (here they are cached already, so it only loads them) and the evaluation waits for it
    between decoding and matching its first pair; with the kernels cached it starts nothing."""
    from panoptic_metrics import evaluate

    plain = evaluate_coco(*random_set.args(), workers=1, progress=False).to_json()
    settings = evaluate.MatchSettings(categories=load_categories(random_set))
    assert evaluate._compile_beside(settings) is None  # cached after the evaluation above
    forked: list[object] = []
    real_process = multiprocessing.get_context("fork").Process

    def process(*args: object, **kwargs: object) -> object:
        forked.append(real_process(*args, **kwargs))  # type: ignore[arg-type]
        return forked[-1]

    monkeypatch.setattr(evaluate, "_matching_uncached", lambda: True)
    monkeypatch.setattr(multiprocessing.get_context("fork"), "Process", process)
    for workers in (1, 2):
        assert evaluate_coco(*random_set.args(), workers=workers, progress=False).to_json() == plain
    beside = [p for p in forked if p.name == "panoptic-metrics-compile"]  # type: ignore[attr-defined]
    assert len(beside) == 2  # one per evaluation (the others: the pool's workers)
    assert all(p.exitcode == 0 for p in beside)  # type: ignore[attr-defined]


@pytest.mark.parametrize("dilation_ratio", [None, 0.02])
def test_the_two_parts_of_the_head_start(
    random_set: CocoSet, monkeypatch: pytest.MonkeyPatch, dilation_ratio: float | None
) -> None:
    """The forked part matches the tiny pair (the whole `match_image` with Boundary PQ, else
    the intersection and matching kernels), this process's part runs the decomposition's
    kernel on a table it writes (never the intersection kernel); failures stay silent."""
    from panoptic_metrics import evaluate, kernels, matching

    calls: list[str] = []
    for name in ("intersection_table", "match_segments", "decompose_errors"):
        real = getattr(kernels, name)
        monkeypatch.setattr(
            kernels, name, lambda *a, _n=name, _r=real: (calls.append(_n), _r(*a))[1]
        )
    settings = evaluate.MatchSettings(
        categories=load_categories(random_set), dilation_ratio=dilation_ratio
    )
    evaluate._head_start(evaluate._match_tiny, settings)
    expected = ["intersection_table", "match_segments"]
    assert calls == ([*expected, "decompose_errors"] if dilation_ratio else expected)
    calls.clear()
    evaluate._head_start(evaluate._errors_tiny, settings)
    assert calls == ["decompose_errors"]

    def broken(*args: object, **kwargs: object) -> object:
        raise matching.PanopticInputError("x", "broken")

    monkeypatch.setattr(matching, "_tables", broken)
    evaluate._head_start(evaluate._match_tiny, settings)  # a head start only: no error escapes


def load_categories(random_set: CocoSet) -> CategorySet:
    categories = load_coco_panoptic(random_set.gt_json, random_set.gt_folder).categories
    assert categories is not None
    return categories
