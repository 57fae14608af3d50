"""The paper's augmentation (§5) and ImageNet normalisation.

Training: the shortest side becomes floor(S * t) with t uniform in a range, then a horizontal
flip with probability 1/2; full images, no cropping. Test: the shortest side becomes the test
size. Images resize bilinearly, segment index maps with nearest neighbours, so targets are
built from the final map and always agree with the image.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image

from .categories import ClassMapping
from .config import AugmentationConfig
from .decode import PanopticGT
from .targets import Target, make_target

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # torchvision's ImageNet statistics (RGB in [0, 1])
IMAGENET_STD = (0.229, 0.224, 0.225)


def scaled_size(
    height: int, width: int, short_side: int, max_long_side: int | None = None
) -> tuple[int, int]:
    """(h, w) with the shortest side `short_side` and the aspect ratio kept (rounded).

    With `max_long_side`, the scale shrinks so that the longest side does not exceed it.
    """
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    scale = short_side / min(height, width)
    if max_long_side is not None and max(height, width) * scale > max_long_side:
        scale = max_long_side / max(height, width)
        return max(1, round(height * scale)), max(1, round(width * scale))
    if height <= width:
        return short_side, max(1, round(width * scale))
    return max(1, round(height * scale)), short_side


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 -> (h, w, 3) uint8, bilinear."""
    if image.shape[:2] == size:
        return image
    resized = Image.fromarray(image).resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.asarray(resized)


def resize_index(index: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) int32 segment index map -> (h, w), nearest neighbour."""
    if index.shape == size:
        return index
    image = Image.fromarray(index.astype(np.int32), mode="I")
    return np.asarray(image.resize((size[1], size[0]), Image.Resampling.NEAREST)).astype(np.int32)


def normalise(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32, ImageNet-normalised."""
    writable = np.require(image, np.uint8, requirements=["C", "W"])  # copies only if needed
    tensor = torch.from_numpy(writable).permute(2, 0, 1).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return tensor.sub_(mean).div_(std)


def denormalise(image: torch.Tensor) -> np.ndarray:
    """Inverse of `normalise` (for visualisation): (3, H, W) float -> (H, W, 3) uint8."""
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    rgb = (image.detach().cpu().float() * std + mean).clamp(0, 1).mul(255).round()
    return rgb.byte().permute(1, 2, 0).numpy()


class TrainTransform:
    """Random scale (short side floor(S t)) and flip, then targets and normalisation."""

    def __init__(self, config: AugmentationConfig, classes: ClassMapping) -> None:
        self.config = config
        self.classes = classes

    def draw(self, height: int, width: int, rng: np.random.Generator) -> tuple[int, int, bool]:
        """The random choices for one image: output (h, w) and whether to flip."""
        low, high = self.config.scale_range
        t = rng.uniform(low, high)
        short = max(1, math.floor(self.config.short_side * t))
        flip = bool(rng.random() < 0.5) if self.config.flip else False
        h, w = scaled_size(height, width, short, self.config.max_long_side)
        return h, w, flip

    def __call__(
        self, image: np.ndarray, gt: PanopticGT, rng: np.random.Generator
    ) -> tuple[torch.Tensor, Target]:
        h, w, flip = self.draw(image.shape[0], image.shape[1], rng)
        image = resize_image(image, (h, w))
        index = resize_index(gt.index, (h, w))
        if flip:
            image = image[:, ::-1]
            index = index[:, ::-1]
        target = make_target(np.ascontiguousarray(index), gt.segments, self.classes)
        return normalise(image), target


class EvalTransform:
    """Test-time scaling (short side = test_short_side) and normalisation; no targets."""

    def __init__(self, config: AugmentationConfig) -> None:
        self.config = config

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        h, w = scaled_size(
            image.shape[0], image.shape[1], self.config.test_short_side, self.config.max_long_side
        )
        return normalise(resize_image(image, (h, w)))
