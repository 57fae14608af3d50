"""Fixtures of the model tests: small batches in the model's input format (docs/contracts.md §2)
made from the synthetic street scenes by the data pipeline's own normalisation and targets,
and the tiny-synthetic configuration."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from panoptic_metrics import CategorySet, from_instance_ids

from reference_model.data.categories import ClassMapping
from reference_model.data.decode import PanopticGT
from reference_model.data.targets import make_target
from reference_model.data.transforms import normalise
from reference_model.synthetic import coco_categories, make_sample

CLASSES = ClassMapping(CategorySet.from_coco(coco_categories()))  # the 19 Cityscapes classes

Batch = tuple[torch.Tensor, list[dict[str, torch.Tensor]]]


def synthetic_batch(n: int = 2, height: int = 96, width: int = 192, seed: int = 0) -> Batch:
    """n synthetic images (normalised, (n, 3, H, W)) and their targets."""
    images, targets = [], []
    for index in range(n):
        sample = make_sample("train", index, seed=seed, height=height, width=width)
        images.append(normalise(sample.image))
        gt = PanopticGT.of(from_instance_ids(sample.instance_ids, CLASSES.categories))
        targets.append(make_target(gt.index, gt.segments, CLASSES))
    return torch.stack(images), targets


def seeded_training_losses(
    steps: int, height: int = 96, width: int = 192
) -> list[dict[str, float]]:
    """The losses of `steps` SGD steps of the tiny combined model from seed 0 on the seed-3
    synthetic batch: run twice around a monkeypatch, the old and the new path of a change."""
    from reference_model.build import build_model
    from reference_model.presets import preset

    images, targets = synthetic_batch(2, height, width, seed=3)
    torch.manual_seed(0)
    model = build_model(form="combined", config=preset("tiny-synthetic")).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    out = []
    for _ in range(steps):
        optimizer.zero_grad()
        step = model(images, targets)
        sum(step.values()).backward()
        optimizer.step()
        out.append({k: v.item() for k, v in step.items()})
    return out


@pytest.fixture
def make_batch() -> Callable[..., Batch]:
    """`make_batch(n, height, width, seed)`: a batch of synthetic images and targets."""
    return synthetic_batch
