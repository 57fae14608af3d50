"""Fixtures of the model tests: small batches in the model's input format (docs/contracts.md §2)
made from the synthetic street scenes, and the tiny-synthetic configuration."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from reference_model.synthetic import make_sample
from reference_model.synthetic.classes import BY_LABEL_ID, INSTANCE_DIVISOR

MEAN = torch.tensor([0.485, 0.456, 0.406])[:, None, None]  # ImageNet normalisation
STD = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
N_STUFF = 11

Batch = tuple[torch.Tensor, list[dict[str, torch.Tensor]]]


def target_from_ids(ids: np.ndarray) -> dict[str, torch.Tensor]:
    """A target dict from a Cityscapes instanceIds map (crowd groups: thing ids < 1000)."""
    semantic = np.full(ids.shape, 255, dtype=np.int64)
    boxes, labels, masks, crowd = [], [], [], []
    for value in np.unique(ids).tolist():
        label = value // INSTANCE_DIVISOR if value >= INSTANCE_DIVISOR else value
        cls = BY_LABEL_ID.get(label)
        if cls is None:
            continue
        mask = ids == value
        semantic[mask] = cls.train_id
        if cls.isthing:
            ys, xs = np.nonzero(mask)
            boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            labels.append(cls.train_id - N_STUFF)
            masks.append(mask)
            crowd.append(value < INSTANCE_DIVISOR)
    h, w = ids.shape
    return {
        "semantic": torch.from_numpy(semantic),
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor(labels, dtype=torch.int64),
        "masks": torch.from_numpy(np.stack(masks))
        if masks
        else torch.zeros(0, h, w, dtype=torch.bool),
        "iscrowd": torch.tensor(crowd, dtype=torch.bool),
    }


def synthetic_batch(n: int = 2, height: int = 96, width: int = 192, seed: int = 0) -> Batch:
    """n synthetic images (normalised, (n, 3, H, W)) and their targets."""
    images, targets = [], []
    for index in range(n):
        sample = make_sample("train", index, seed=seed, height=height, width=width)
        image = torch.from_numpy(sample.image).permute(2, 0, 1).float() / 255.0
        images.append((image - MEAN) / STD)
        targets.append(target_from_ids(sample.instance_ids))
    return torch.stack(images), targets


@pytest.fixture
def make_batch() -> Callable[..., Batch]:
    """`make_batch(n, height, width, seed)`: a batch of synthetic images and targets."""
    return synthetic_batch
