"""Fixtures of the metrics tests: seeded random and realistic COCO-panoptic sets on disk."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.metrics.installed import Installed, install
from tests.metrics.panoptic_data import (
    CATEGORIES,
    load_coco_annotated,
    perturb,
    random_dataset,
    write_coco,
)


@dataclass(frozen=True)
class CocoSet:
    """A ground-truth and a prediction COCO-panoptic set on disk."""

    gt_json: Path
    gt_folder: Path
    pred_json: Path
    pred_folder: Path

    def args(self) -> tuple[Path, Path, Path, Path]:
        return self.gt_json, self.gt_folder, self.pred_json, self.pred_folder


@pytest.fixture(scope="session")
def random_set(tmp_path_factory: pytest.TempPathFactory) -> CocoSet:
    """24 random 48x64 pairs (crowd, void, repeated stuff) plus the edge cases of
    `random_dataset`; integer image ids."""
    root = tmp_path_factory.mktemp("random_set")
    gts, preds = random_dataset(seed=0, n=24)
    gt_json, gt_folder = write_coco(root, "gt", gts, CATEGORIES)
    pred_json, pred_folder = write_coco(root, "pred", preds, None)
    return CocoSet(gt_json, gt_folder, pred_json, pred_folder)


@pytest.fixture(scope="session")
def realistic_set(synthetic_root: Path, tmp_path_factory: pytest.TempPathFactory) -> CocoSet:
    """The 19 synthetic Cityscapes-layout val images (string ids) and perturbed predictions."""
    gt_json = synthetic_root / "gtFine" / "cityscapes_panoptic_val.json"
    gt_folder = synthetic_root / "gtFine" / "cityscapes_panoptic_val"
    categories = json.loads(gt_json.read_text())["categories"]
    rng = np.random.default_rng(11)
    preds = [perturb(gt, rng, categories) for gt in load_coco_annotated(gt_json, gt_folder)]
    pred_json, pred_folder = write_coco(tmp_path_factory.mktemp("realistic"), "pred", preds, None)
    return CocoSet(gt_json, gt_folder, pred_json, pred_folder)


@pytest.fixture(scope="session")
def installed_metrics(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """panoptic-metrics as pip installs it, with its console script (see installed.py)."""
    sources = ["metrics/pyproject.toml", "metrics/README.md", "metrics/src"]
    return install(
        "panoptic-metrics", sources, tmp_path_factory.mktemp("metrics_install"), "panoptic-metrics"
    )
