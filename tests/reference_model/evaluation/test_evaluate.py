"""`evaluate` wired end to end: an oracle that predicts the ground truth scores 1 on every
metric (PQ, SQ, RQ, PQ†, mIoU, mask AP), and the files of the run directory agree."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from panoptic_metrics import CategorySet, cityscapes_groups
from torch import nn

from reference_model.data import (
    AugmentationConfig,
    ClassMapping,
    DataConfig,
    DatasetSource,
    synthetic,
)
from reference_model.data.targets import boxes_of
from reference_model.evaluation import EvaluationConfig, GroundTruth, evaluate
from reference_model.evaluation.evaluator import class_groups
from reference_model.prediction import Instances, PanopticPrediction
from reference_model.training import RunDirectory, setup

pytestmark = pytest.mark.needs_torch


def _oracle_prediction(
    truth: GroundTruth, image_id: str, source: DatasetSource
) -> PanopticPrediction:
    """The ground truth as a prediction: every segment with its class, every non-crowd thing
    segment also as a detection of score 1."""
    gt = truth.image(image_id)
    classes = source.classes
    index = [classes.class_index(int(c)) for c in gt.segments.category_ids]
    segments = [
        {"id": int(i), "class_index": k, "isthing": classes.is_thing_index(k), "score": 1.0}
        for i, k in zip(gt.segments.ids, index, strict=True)
    ]
    semantic = truth.semantic(gt)
    semantic[semantic == 255] = 0  # void pixels are ignored by mIoU: any class will do
    things = [
        (i, k)
        for i, k, crowd in zip(gt.segments.ids, index, gt.segments.iscrowd, strict=True)
        if classes.is_thing_index(k) and not crowd
    ]
    masks = np.stack([gt.ids == i for i, _ in things]) if things else np.zeros((0, *gt.ids.shape))
    instances = Instances(
        boxes=torch.from_numpy(boxes_of(masks)),
        labels=torch.tensor([k - classes.n_stuff for _, k in things], dtype=torch.int64),
        scores=torch.ones(len(things)),
        masks=torch.from_numpy(masks.astype(bool)),
    )
    return PanopticPrediction(
        torch.from_numpy(gt.ids.astype(np.int64)), segments, torch.from_numpy(semantic), instances
    )


class Oracle(nn.Module):
    """Returns the prepared predictions in the order of the split (one image per batch)."""

    def __init__(self, predictions: list[PanopticPrediction]) -> None:
        super().__init__()
        self.predictions = list(predictions)

    def forward(self, images: torch.Tensor, *, image_sizes: list[tuple[int, int]]) -> list:
        prediction = self.predictions.pop(0)
        assert tuple(prediction.panoptic.shape) == image_sizes[0]
        return [prediction]


def test_an_oracle_scores_one_everywhere(synthetic_root: Path, tmp_path: Path) -> None:
    source = synthetic(synthetic_root, "val")
    truth = GroundTruth(source)
    oracle = Oracle([_oracle_prediction(truth, r.image_id, source) for r in source.records])
    data = DataConfig(
        dataset="synthetic",
        root=str(synthetic_root),
        workers=0,
        augmentation=AugmentationConfig(test_short_side=64),  # the images' own size
    )
    run = RunDirectory(tmp_path / "oracle")
    results = evaluate(
        oracle,  # type: ignore[arg-type]
        source=source,
        data=data,
        run=run,
        ctx=setup("cpu"),
        config=EvaluationConfig(boundary=True),
        progress=False,
    )
    assert not oracle.predictions  # every image predicted once
    overall = results.panoptic.overall
    assert (overall.pq, overall.sq, overall.rq, overall.pq_dagger) == (1.0, 1.0, 1.0, 1.0)
    assert results.panoptic.boundary is not None  # equal maps: every boundary IoU is 1 too
    assert (results.panoptic.boundary.pq, results.panoptic.boundary.dilation_ratio) == (1.0, 0.02)
    assert results.miou is not None
    assert results.miou.miou == 1.0
    assert results.mask_ap is not None
    assert results.mask_ap.ap == pytest.approx(1.0)
    assert results.mask_ap.n_ground_truth > 0
    metrics = json.loads(run.metrics.read_text())
    assert (metrics["pq"], metrics["miou"], metrics["n_images"]) == (1.0, 1.0, 19)
    assert metrics["mask_ap"]["ap"] == pytest.approx(1.0)
    assert (metrics["split"], metrics["dataset"]) == ("val", "synthetic")
    assert metrics["groups"].keys() == cityscapes_groups().keys()
    assert {g["pq"] for g in metrics["groups"].values()} == {1.0}
    assert metrics["boundary"]["boundary_pq"] == 1.0
    detections = json.loads((run.predictions / "instances.json").read_text())
    assert len(detections) == results.mask_ap.n_predictions == results.mask_ap.n_ground_truth
    timings = json.loads(run.timings.read_text())
    assert timings["inference_seconds_per_image"] >= 0
    assert timings["device"] == "cpu"


def test_class_groups_are_the_cityscapes_categories_of_the_evaluated_classes(
    synthetic_root: Path,
) -> None:
    source = synthetic(synthetic_root, "val")
    assert class_groups(source) == cityscapes_groups()
    # without sky and rider: the sky group is left out, human keeps person
    kept = [c for c in source.classes.categories.categories if c.id not in (23, 25)]
    fewer = replace(source, classes=ClassMapping(CategorySet(tuple(kept))))
    expected = {k: v for k, v in cityscapes_groups().items() if k != "sky"} | {"human": (24,)}
    assert class_groups(fewer) == expected
    # other label spaces get no groups
    assert class_groups(replace(source, name="vistas")) == {}
