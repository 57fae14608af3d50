"""Checking what enters the model (docs/contracts.md §2), with errors that say what is wrong.

Images: (B, 3, H, W) float, finite, at least as large as the network's largest stride; they
are zero-padded at the bottom and right to a multiple of 32 if they are not already.
`image_sizes`: each image's (h, w) inside the padded batch; from the targets' semantic maps in
training when not given. Targets: per image `semantic` (h, w) int64, `boxes` (N, 4),
`labels` (N,) int64 thing index, `masks` (N, h, w) bool, `iscrowd` (N,) bool; N may be 0.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .data.categories import IGNORE_INDEX

PAD_MULTIPLE = 32  # the stride of C5: every level then has an integer size
TARGET_KEYS = ("semantic", "boxes", "labels", "masks", "iscrowd")


def check_images(images: torch.Tensor, *, max_stride: int) -> torch.Tensor:
    """The batch, padded to a multiple of 32; ValueError for a wrong shape, dtype or NaN."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a tensor (B, 3, H, W), got {type(images).__name__}")
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (B, 3, H, W) RGB, got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise TypeError(f"images must be float (ImageNet-normalised), got {images.dtype}")
    if images.shape[0] == 0:
        raise ValueError("images is an empty batch")
    h, w = images.shape[-2:]
    if h < max_stride or w < max_stride:
        raise ValueError(
            f"images of {h}x{w} pixels are smaller than the network's largest stride "
            f"({max_stride}); resize them to at least {max_stride}x{max_stride}"
        )
    if not bool(torch.isfinite(images).all()):
        raise ValueError("images contain NaN or infinite values")
    pad_h, pad_w = -h % PAD_MULTIPLE, -w % PAD_MULTIPLE
    if pad_h or pad_w:
        images = F.pad(images, (0, pad_w, 0, pad_h))
    return images


def check_image_sizes(
    image_sizes: list[tuple[int, int]] | None, images: torch.Tensor, original: tuple[int, int]
) -> list[tuple[int, int]]:
    """Each (h, w) positive and within the batch; the unpadded batch size when not given."""
    if image_sizes is None:
        return [original] * images.shape[0]
    sizes = [(int(h), int(w)) for h, w in image_sizes]
    if len(sizes) != images.shape[0]:
        raise ValueError(f"got {len(sizes)} image_sizes for a batch of {images.shape[0]} images")
    for i, (h, w) in enumerate(sizes):
        if not (0 < h <= images.shape[-2] and 0 < w <= images.shape[-1]):
            raise ValueError(
                f"image_sizes[{i}] = ({h}, {w}) is not within the batch's "
                f"{images.shape[-2]}x{images.shape[-1]} pixels"
            )
    return sizes


def check_targets(
    targets: list[dict[str, torch.Tensor]],
    images: torch.Tensor,
    *,
    num_classes: int,
    num_things: int,
) -> list[tuple[int, int]]:
    """Validate the training targets; return each image's size, taken from its `semantic`."""
    if not isinstance(targets, list | tuple) or len(targets) != images.shape[0]:
        raise ValueError(f"need one target dict per image ({images.shape[0]}) in training")
    sizes = []
    for i, t in enumerate(targets):
        missing = [k for k in TARGET_KEYS if k not in t]
        if missing:
            raise KeyError(f"targets[{i}] lacks {missing} (needs {list(TARGET_KEYS)})")
        sem = t["semantic"]
        if sem.dim() != 2 or sem.shape[0] > images.shape[-2] or sem.shape[1] > images.shape[-1]:
            raise ValueError(
                f"targets[{i}]['semantic'] must be (h, w) within the batch's "
                f"{tuple(images.shape[-2:])}, got {tuple(sem.shape)}"
            )
        bad = (sem != IGNORE_INDEX) & ((sem < 0) | (sem >= num_classes))
        if bool(bad.any()):
            raise ValueError(
                f"targets[{i}]['semantic'] has class indices outside 0..{num_classes - 1} "
                f"(and the ignore label {IGNORE_INDEX})"
            )
        _check_instances(i, t, tuple(sem.shape), num_things)
        sizes.append((int(sem.shape[0]), int(sem.shape[1])))
    return sizes


def _check_instances(
    i: int, t: dict[str, torch.Tensor], size: tuple[int, ...], num_things: int
) -> None:
    n = t["boxes"].shape[0] if t["boxes"].dim() == 2 else -1
    if t["boxes"].shape != (n, 4) or not t["boxes"].is_floating_point():
        raise ValueError(
            f"targets[{i}]['boxes'] must be float (N, 4), got {tuple(t['boxes'].shape)}"
        )
    for key, shape in (("labels", (n,)), ("iscrowd", (n,)), ("masks", (n, *size))):
        if tuple(t[key].shape) != shape:
            raise ValueError(
                f"targets[{i}][{key!r}] must have shape {shape} (N = {n} boxes), "
                f"got {tuple(t[key].shape)}"
            )
    if t["iscrowd"].dtype != torch.bool or t["masks"].dtype != torch.bool:
        raise TypeError(f"targets[{i}]: 'iscrowd' and 'masks' must be bool tensors")
    labels = t["labels"]
    if n and (int(labels.min()) < 0 or int(labels.max()) >= num_things):
        raise ValueError(f"targets[{i}]['labels'] must be thing indices in 0..{num_things - 1}")
    boxes = t["boxes"]
    if n and not bool(torch.isfinite(boxes).all() & (boxes[:, 2:] >= boxes[:, :2]).all()):
        raise ValueError(f"targets[{i}]['boxes'] must be finite xyxy boxes with x1 >= x0, y1 >= y0")
