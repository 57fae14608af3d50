"""Batches of images of different sizes: zero-padded at the bottom and right to a common size,
a multiple of the size divisor (32, the stride of C5, so every pyramid level has an integer size).

The padded pixels are 0, the ImageNet mean after normalisation. Targets stay at their image's
own size (h, w) inside the batch (docs/contracts.md §2: the model reads each image's size from
its `semantic` map); padding is at the bottom and right, so boxes need no shift.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from .dataset import Sample
from .targets import Target


@dataclass(frozen=True)
class Batch:
    """Model inputs and bookkeeping of one batch.

    Attributes:
        images: (B, 3, H, W) float32, H and W multiples of the size divisor.
        targets: one per image, at that image's (h, w); None at test time.
        image_sizes: (h, w) of each image before padding (what the model predicts at).
        original_sizes: (H0, W0) of each image on disk.
        image_ids: the dataset's image ids.
    """

    images: torch.Tensor
    targets: list[Target] | None
    image_sizes: list[tuple[int, int]]
    original_sizes: list[tuple[int, int]]
    image_ids: list[str | int]

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> Batch:
        targets = None
        if self.targets is not None:
            targets = [
                {k: v.to(device, non_blocking=non_blocking) for k, v in t.items()}
                for t in self.targets
            ]
        return replace(
            self, images=self.images.to(device, non_blocking=non_blocking), targets=targets
        )

    def pin_memory(self) -> Batch:
        """Called by DataLoader(pin_memory=True)."""
        targets = None
        if self.targets is not None:
            targets = [{k: v.pin_memory() for k, v in t.items()} for t in self.targets]
        return replace(self, images=self.images.pin_memory(), targets=targets)


def padded_size(sizes: Sequence[tuple[int, int]], divisor: int) -> tuple[int, int]:
    """The smallest (H, W) that holds every size and is a multiple of `divisor`."""
    height = max(h for h, _ in sizes)
    width = max(w for _, w in sizes)
    return -(-height // divisor) * divisor, -(-width // divisor) * divisor


class Collate:
    """DataLoader `collate_fn`: a list of `Sample`s -> a padded `Batch` (picklable)."""

    def __init__(self, size_divisor: int = 32) -> None:
        if size_divisor < 1:
            raise ValueError(f"size_divisor must be >= 1, got {size_divisor}")
        self.size_divisor = size_divisor

    def __call__(self, samples: Sequence[Sample]) -> Batch:
        if not samples:
            raise ValueError("cannot collate an empty batch")
        sizes = [(int(s.image.shape[1]), int(s.image.shape[2])) for s in samples]
        height, width = padded_size(sizes, self.size_divisor)
        images = samples[0].image.new_zeros((len(samples), 3, height, width))
        for k, (sample, (h, w)) in enumerate(zip(samples, sizes, strict=True)):
            images[k, :, :h, :w] = sample.image
        targets = None
        if all(s.target is not None for s in samples):
            targets = [s.target for s in samples if s.target is not None]
        return Batch(
            images=images,
            targets=targets,
            image_sizes=sizes,
            original_sizes=[s.original_size for s in samples],
            image_ids=[s.image_id for s in samples],
        )
