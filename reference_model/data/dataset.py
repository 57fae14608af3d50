"""`PanopticDataset`: a dataset split as a torch map-style dataset of `Sample`s.

Training items are addressed by a `SampleKey` (record index plus the position in the training
stream), and the augmentation draws from a generator seeded by (seed, position) only: the
same iteration gets the same images and the same augmentation whatever the worker count, the
number of processes, or a resume in between.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from .decode import load_image, load_pair
from .records import DatasetSource
from .targets import Target
from .transforms import EvalTransform, TrainTransform


@dataclass(frozen=True)
class SampleKey:
    """Which record to load, and the stream position that seeds its augmentation."""

    index: int
    position: int
    seed: int = 0

    def rng(self) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.position])


@dataclass(frozen=True)
class Sample:
    """One loaded image.

    Attributes:
        image: (3, h, w) float32, ImageNet-normalised, at the transformed size.
        target: the training target at (h, w) (None at test time).
        image_id: the dataset's image id.
        original_size: (H, W) of the image on disk (predictions are written at this size).
    """

    image: torch.Tensor
    target: Target | None
    image_id: str | int
    original_size: tuple[int, int]


class PanopticDataset(Dataset[Sample]):
    """The records of a `DatasetSource`, loaded and transformed on access."""

    def __init__(self, source: DatasetSource, transform: TrainTransform | EvalTransform) -> None:
        self.source = source
        self.transform = transform

    def __len__(self) -> int:
        return len(self.source.records)

    def __getitem__(self, key: SampleKey | int) -> Sample:
        if isinstance(key, int):
            key = SampleKey(key, position=key)
        if not 0 <= key.index < len(self):
            raise IndexError(f"index {key.index} out of range for {len(self)} images")
        record = self.source.records[key.index]
        if isinstance(self.transform, TrainTransform):
            image, gt = load_pair(record)
            tensor, target = self.transform(image, gt, key.rng())
            return Sample(tensor, target, record.image_id, (image.shape[0], image.shape[1]))
        image = load_image(record.image_path)
        tensor = self.transform(image)
        return Sample(tensor, None, record.image_id, (image.shape[0], image.shape[1]))
