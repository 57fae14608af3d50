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


@pytest.fixture
def make_batch() -> Callable[..., Batch]:
    """`make_batch(n, height, width, seed)`: a batch of synthetic images and targets."""
    return synthetic_batch
