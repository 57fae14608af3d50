"""The paper's augmentation (§5), normalisation, targets after resizing and flipping, batching."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.ops import masks_to_boxes
from torchvision.transforms.functional import normalize

from reference_model.data import (
    AugmentationConfig,
    Collate,
    EvalTransform,
    PanopticDataset,
    SampleKey,
    TrainTransform,
    coco,
    normalise,
    scaled_size,
)
from reference_model.data.transforms import IMAGENET_MEAN, IMAGENET_STD, denormalise

pytestmark = pytest.mark.needs_torch


def test_scaled_size_keeps_aspect_and_sets_short_side() -> None:
    assert scaled_size(1024, 2048, 512) == (512, 1024)
    assert scaled_size(2048, 1024, 512) == (1024, 512)
    assert scaled_size(1080, 1920, 1000) == (1000, round(1920 * 1000 / 1080))
    # The authors' longest_max_size: the long side is capped, the aspect kept.
    assert scaled_size(1024, 2048, 2048, max_long_side=3000) == (1500, 3000)
    with pytest.raises(ValueError, match="positive"):
        scaled_size(0, 5, 3)


def test_training_scale_is_floor_of_s_times_t_with_t_uniform(coco_root: tuple[Path, dict]) -> None:
    """§5: shortest side floor(1024 t), t ~ U[0.5, 2]: reproduce t from the same generator."""
    config = AugmentationConfig()
    transform = TrainTransform(config, coco(coco_root[0], "val").classes)
    shorts, flips = [], []
    for position in range(400):
        key = SampleKey(0, position, seed=11)
        h, w, flip = transform.draw(1024, 2048, key.rng())
        t = key.rng().uniform(0.5, 2.0)  # the first draw of the same generator
        assert h == math.floor(1024 * t)
        assert w == round(2048 * h / 1024)
        shorts.append(h)
        flips.append(flip)
    assert 512 <= min(shorts) < 540
    assert 2020 < max(shorts) <= 2048
    assert 160 < sum(flips) < 240  # a fair coin: 400 draws, 5 sigma = 50
    no_flip = TrainTransform(AugmentationConfig(flip=False), transform.classes)
    assert not any(no_flip.draw(10, 20, SampleKey(0, p).rng())[2] for p in range(50))


def test_normalise_matches_torchvision() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    ours = normalise(image)
    reference = normalize(
        torch.from_numpy(image).permute(2, 0, 1).float() / 255, IMAGENET_MEAN, IMAGENET_STD
    )
    assert ours.shape == (3, 5, 7)
    assert torch.allclose(ours, reference, atol=1e-6)
    assert np.array_equal(denormalise(ours), image)


def test_flipped_and_scaled_targets_agree_with_the_image(coco_root: tuple[Path, dict]) -> None:
    """A flipped sample is the mirror image of the unflipped one drawn at the same scale;
    boxes agree with torchvision's masks_to_boxes (inclusive max, so ours = theirs + 1)."""
    source = coco(coco_root[0], "val")
    config = AugmentationConfig(short_side=40, scale_range=(0.5, 2.0))
    dataset = PanopticDataset(source, TrainTransform(config, source.classes))
    seen = set()
    for position in range(40):
        key = SampleKey(0, position, seed=3)
        sample = dataset[key]
        target = sample.target
        assert target is not None
        _, w, flip = dataset.transform.draw(48, 96, key.rng())  # type: ignore[union-attr]
        assert sample.image.shape[2] == w
        plain = PanopticDataset(
            source,
            TrainTransform(
                AugmentationConfig(short_side=40, scale_range=(0.5, 2.0), flip=False),
                source.classes,
            ),
        )[key]
        assert plain.target is not None
        mirror = (lambda t: t.flip(-1)) if flip else (lambda t: t)
        assert torch.equal(sample.image, mirror(plain.image))
        assert torch.equal(target["semantic"], mirror(plain.target["semantic"]))
        assert torch.equal(target["masks"], mirror(plain.target["masks"]))
        assert torch.equal(
            target["boxes"], masks_to_boxes(target["masks"]) + torch.tensor([0, 0, 1, 1])
        )
        assert target["masks"].any(dim=(1, 2)).all()
        seen.add(flip)
    assert seen == {True, False}


def test_eval_transform_scales_to_test_size(coco_root: tuple[Path, dict]) -> None:
    source = coco(coco_root[0], "val")
    sample = PanopticDataset(source, EvalTransform(AugmentationConfig(test_short_side=24)))[1]
    assert sample.target is None
    assert sample.image.shape == (3, 24, 48)
    assert sample.original_size == (48, 96)
    assert sample.image_id == 285


def test_collate_pads_images_to_multiple_of_32(coco_root: tuple[Path, dict]) -> None:
    source = coco(coco_root[0], "val")
    config = AugmentationConfig(short_side=40, scale_range=(0.5, 2.0))
    dataset = PanopticDataset(source, TrainTransform(config, source.classes))
    samples = [dataset[SampleKey(0, 1, seed=0)], dataset[SampleKey(1, 2, seed=0)]]
    batch = Collate(32)(samples)
    sizes = [tuple(s.image.shape[1:]) for s in samples]
    assert batch.image_sizes == sizes
    height = max(h for h, _ in sizes)
    width = max(w for _, w in sizes)
    assert batch.images.shape == (2, 3, math.ceil(height / 32) * 32, math.ceil(width / 32) * 32)
    assert batch.targets is not None
    for k, (sample, (h, w)) in enumerate(zip(samples, sizes, strict=True)):
        assert torch.equal(batch.images[k, :, :h, :w], sample.image)
        assert batch.images[k, :, h:].abs().sum() == 0
        assert batch.images[k, :, :, w:].abs().sum() == 0
        for key, value in batch.targets[k].items():  # targets keep the image's own size
            assert torch.equal(value, sample.target[key]), key  # type: ignore[index]
        assert batch.targets[k]["semantic"].shape == (h, w)
    assert batch.image_ids == [139, 285]
    with pytest.raises(ValueError, match="empty batch"):
        Collate(32)([])
