"""Speed of the pooled mIoU confusion matrix, side by side with its peers (`nox -s bench`).

Workload: 4 ground-truth/prediction pairs of 1024x2048 train-id maps (the Cityscapes size),
synthetic street scenes scaled up 4x, predictions shifted with wrong blocks and salt noise.
Peers: cityscapesscripts' pure-Python path of evalPixelLevelSemanticLabeling (its core,
`np.unique` over gt*k+pred codes, reproduced as it stands there since the function itself
wants files) and torchmetrics' MulticlassJaccardIndex.update on CPU tensors. The last
benchmark prints the ratios; each run also checks that all three give the same matrix.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from panoptic_metrics.miou import MiouAccumulator

from reference_model.synthetic import make_sample

C, IGNORE, N_PAIRS = 19, 255, 4
MEDIANS: dict[str, float] = {}


def _train_ids(label_ids: np.ndarray) -> np.ndarray:
    from cityscapesscripts.helpers.labels import labels

    lut = np.full(256, IGNORE, dtype=np.int64)
    for label in labels:
        if label.id >= 0 and not label.ignoreInEval:
            lut[label.id] = label.trainId
    train_ids: np.ndarray = lut[label_ids]
    return train_ids


@pytest.fixture(scope="module")
def pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(N_PAIRS):
        sample = make_sample("val", i, seed=0, height=256, width=512)
        gt = np.repeat(np.repeat(_train_ids(sample.label_ids), 4, axis=0), 4, axis=1)
        pred = np.roll(gt, (5, -7), axis=(0, 1))
        for _ in range(20):
            y, x = rng.integers(0, 1024 - 64), rng.integers(0, 2048 - 64)
            pred[y : y + 64, x : x + 64] = rng.integers(0, C)
        noise = rng.random(pred.shape) < 0.01
        pred[noise] = rng.integers(0, C, size=int(noise.sum()))
        pred[pred == IGNORE] = 0
        out.append((gt, pred))
    return out


def _ours(pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    acc = MiouAccumulator(C)
    for gt, pred in pairs:
        acc.update(gt, pred)
    return acc.confusion[:, :C]


def _cityscapes_numpy(pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    matrix = np.zeros((256, 256), dtype=np.int64)
    for gt, pred in pairs:
        encoding_value = int(max(gt.max(), pred.max())) + 1
        encoded = gt.astype(np.int32) * encoding_value + pred
        values, counts = np.unique(encoded, return_counts=True)
        for value, count in zip(values, counts, strict=True):
            pred_id = value % encoding_value
            matrix[(value - pred_id) // encoding_value, pred_id] += count
    return matrix[:C, :C]


def _torchmetrics(pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    import torch
    from torchmetrics.classification import MulticlassConfusionMatrix

    metric = MulticlassConfusionMatrix(num_classes=C, ignore_index=IGNORE)
    for gt, pred in pairs:
        metric.update(torch.from_numpy(pred), torch.from_numpy(gt))
    return metric.compute().numpy().astype(np.int64)


def _run(benchmark: Any, name: str, fn: Any, pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
    rounds = 3 if name == "torchmetrics" else 5  # seconds per round there
    matrix = benchmark.pedantic(fn, args=(pairs,), rounds=rounds, warmup_rounds=1)
    np.testing.assert_array_equal(matrix, _ours(pairs))
    MEDIANS[name] = benchmark.stats.stats.median


@pytest.mark.benchmark(group="miou-confusion")
def test_ours(benchmark: Any, pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
    _run(benchmark, "ours", _ours, pairs)


@pytest.mark.benchmark(group="miou-confusion")
def test_cityscapesscripts_numpy_path(benchmark: Any, pairs: Any) -> None:
    _run(benchmark, "cityscapesscripts", _cityscapes_numpy, pairs)


@pytest.mark.benchmark(group="miou-confusion")
def test_torchmetrics(benchmark: Any, pairs: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _run(benchmark, "torchmetrics", _torchmetrics, pairs)
    if "ours" in MEDIANS:
        with capsys.disabled():
            for peer in ("cityscapesscripts", "torchmetrics"):
                if peer in MEDIANS:
                    ratio = MEDIANS[peer] / MEDIANS["ours"]
                    print(f"\nmIoU confusion matrix, {N_PAIRS} pairs: {peer} / ours = {ratio:.1f}x")
