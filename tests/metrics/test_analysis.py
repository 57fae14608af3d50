"""Error-analysis data: best-overlap IoU histograms, PQ − PQ† gaps, bootstrap intervals."""

from __future__ import annotations

import json

import numpy as np
import pytest
from panoptic_metrics import PanopticInputError, PanopticResults, evaluate_coco
from panoptic_metrics.analysis import dagger_gaps, iou_histograms
from panoptic_metrics.bootstrap import bootstrap, paired_bootstrap

from tests.metrics.conftest import CocoSet


@pytest.fixture(scope="module")
def pixels(random_set: CocoSet) -> PanopticResults:
    return evaluate_coco(*random_set.args(), mode="pixels", workers=1, progress=False)


def test_histograms_count_every_non_crowd_gt_segment(
    pixels: PanopticResults, random_set: CocoSet
) -> None:
    """Sum over bins = non-crowd gt segments of the class (from the JSON); and in pixels mode
    a gt segment is a TP exactly when its best same-class IoU is > 0.5, i.e. in the upper
    half of the bins (IoU > 0.5 matches are unique: Kirillov et al. 2019, Theorem 1)."""
    gt = json.loads(random_set.gt_json.read_text())
    expected: dict[int, int] = {}
    for ann in gt["annotations"]:
        for s in ann["segments_info"]:
            if not s["iscrowd"]:
                expected[s["category_id"]] = expected.get(s["category_id"], 0) + 1
    for hist, c in zip(iou_histograms(pixels), pixels.per_class, strict=True):
        assert hist.counts.sum() == expected.get(c.category.id, 0)
        assert hist.counts[10:].sum() == c.tp
        assert hist.edges[10] == 0.5
        assert hist.near_misses == hist.counts[8:10].sum()
    assert sum(h.near_misses for h in iou_histograms(pixels)) > 0


def test_dagger_gaps(pixels: PanopticResults) -> None:
    gaps = dagger_gaps(pixels)
    by_id = {g.category.id: g for g in gaps}
    for c in pixels.per_class:
        gap = by_id[c.category.id]
        if c.category.isthing:
            assert gap.gap == 0.0
        else:
            assert gap.gap == pytest.approx(c.pq - c.pq_dagger, abs=0)
    magnitudes = [abs(g.gap) for g in gaps if not np.isnan(g.gap)]
    assert magnitudes == sorted(magnitudes, reverse=True)


def _naive_bootstrap(results: PanopticResults, n_samples: int, seed: int) -> np.ndarray:
    """The documented method written the slow way: rebuild a results file from the drawn
    images and let the metric compute it."""
    data = results.to_json()
    draws = np.random.default_rng(seed).integers(
        0, results.n_images, size=(n_samples, results.n_images)
    )
    values = []
    for draw in draws:
        resampled = dict(data, per_image=[data["per_image"][i] for i in draw])
        del resampled["errors"]  # its counts would not add up to the resampled FN and FP
        for entry in resampled["per_class"].values():  # per-class sums of the resample
            entry["tp"] = entry["fp"] = entry["fn"] = entry["iou_sum"] = 0
            entry["pq_dagger_n"] = entry["pq_dagger_iou_sum"] = 0
        for row in resampled["per_image"]:
            for cid, sums in row["classes"].items():
                entry = resampled["per_class"][cid]
                for key, value in zip(
                    ("tp", "fp", "fn", "iou_sum", "pq_dagger_n", "pq_dagger_iou_sum"),
                    sums,
                    strict=True,
                ):
                    entry[key] += value
        values.append(PanopticResults.from_json(resampled).pq)
    return np.array(values)


def test_bootstrap_follows_the_documented_method(pixels: PanopticResults) -> None:
    result = bootstrap(pixels, n_samples=40, seed=3, confidence=0.9)
    naive = _naive_bootstrap(pixels, 40, 3)
    low, high = np.percentile(naive, [5, 95])
    assert result.pq.low == pytest.approx(low, abs=1e-12)
    assert result.pq.high == pytest.approx(high, abs=1e-12)
    assert result.pq.estimate == pixels.pq
    assert bootstrap(pixels, n_samples=40, seed=3, confidence=0.9) == result  # seeded
    assert bootstrap(pixels, n_samples=40, seed=4, confidence=0.9) != result
    empty = PanopticResults.from_json({**pixels.to_json(), "per_image": []})
    with pytest.raises(PanopticInputError, match="results: no per-image results to resample"):
        bootstrap(empty, n_samples=5)  # bad data, not a bad argument
    with pytest.raises(ValueError, match="n_samples must be >= 1"):
        bootstrap(pixels, n_samples=0)


def test_paired_bootstrap(pixels: PanopticResults, random_set: CocoSet) -> None:
    same = paired_bootstrap(pixels, pixels, n_samples=50)
    assert (same.pq.estimate, same.pq.low, same.pq.high) == (0.0, 0.0, 0.0)
    assert same.p_value == 1.0
    strict = evaluate_coco(*random_set.args(), mode="strict", workers=1, progress=False)
    diff = paired_bootstrap(pixels, strict, n_samples=200, seed=1)
    assert diff.pq.estimate == pytest.approx(pixels.pq - strict.pq, abs=1e-15)
    assert diff.pq.estimate > 0  # pixels mode exempts an FP that strict mode counts
    # the two sets differ on one image only: the difference is never negative
    assert diff.pq.low >= 0.0
    with pytest.raises(PanopticInputError, match="not on the same images"):
        paired_bootstrap(pixels, PanopticResults.from_json(_drop_image(strict)), n_samples=5)


def _drop_image(results: PanopticResults) -> dict[str, object]:
    data = results.to_json()
    data["per_image"] = data["per_image"][1:]
    return data
