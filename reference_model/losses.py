"""The training losses (§3.4): semantic OHEM log-loss, and the RPN / ROI losses of Mask R-CNN.

Every loss keeps the autograd graph when there is nothing to learn from (no sampled anchor,
no positive ROI): it is then `0 * (sum of the logits)`, so that every parameter gets a (zero)
gradient, as distributed data parallel training needs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch
from torch.nn import functional as F

from .config import SemanticConfig
from .data.categories import IGNORE_INDEX

LOSS_KEYS = ("rpn_objectness", "rpn_box", "roi_class", "roi_box", "roi_mask", "semantic")
INSTANCE_LOSS_KEYS = LOSS_KEYS[:5]
SEMANTIC_LOSS_KEYS = LOSS_KEYS[5:]


ImageLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (1, C, h, w), (1, h, w) -> ()


def ohem_loss(logits: torch.Tensor, target: torch.Tensor, *, fraction: float) -> torch.Tensor:
    """§3.4's loss of one image: the mean log-loss of the ceil(`fraction`) of its h * w pixels
    with the lowest probability of their class (weights tau = 4 / WH, p = 1 in [45]); ignored
    pixels count with loss 0, as in the authors' code."""
    loss = F.cross_entropy(logits, target, ignore_index=IGNORE_INDEX, reduction="none")
    k = math.ceil(loss.numel() * fraction)
    return loss.flatten().topk(k, sorted=False).values.mean()


def cross_entropy_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Plain cross-entropy of one image, the mean over its labelled pixels (the ablation)."""
    if not (target != IGNORE_INDEX).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, target, ignore_index=IGNORE_INDEX)


def image_loss(config: SemanticConfig) -> ImageLoss:
    """The per-image loss `config.loss` names, chosen once when the model is built."""
    if config.loss == "ohem":
        return partial(ohem_loss, fraction=config.ohem_fraction)
    if config.loss == "cross_entropy":
        return cross_entropy_loss
    raise ValueError(f"semantic loss must be 'ohem' or 'cross_entropy', got {config.loss!r}")


def semantic_loss(
    logits: torch.Tensor, targets: list[torch.Tensor], loss: ImageLoss
) -> torch.Tensor:
    """Loss of the semantic head: `loss` of each image, the mean over the batch.

    Args:
        logits: (B, C, H, W) at the (padded) input resolution.
        targets: B tensors (h_i, w_i) int64 of class indices or 255, h_i <= H, w_i <= W: the
            image occupies the top-left corner of the padded input.
        loss: `ohem_loss` (with its fraction) or `cross_entropy_loss`, see `image_loss`.
    """
    per_image = []
    for logits_i, target in zip(logits, targets, strict=True):
        h, w = target.shape
        per_image.append(loss(logits_i[:, :h, :w].unsqueeze(0), target[None]))
    return torch.stack(per_image).mean()


def rpn_losses(
    objectness: torch.Tensor,
    deltas: torch.Tensor,
    labels: torch.Tensor,
    targets: torch.Tensor,
    *,
    beta: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Objectness BCE and box smooth-L1 over the sampled anchors of the batch [42].

    Args:
        objectness: (B, N) logits. deltas: (B, N, 4) box deltas.
        labels: (B, N) 1 positive, 0 negative, -1 not sampled. targets: (B, N, 4) encoded boxes.
        beta: smooth-L1 transition point (1/9, sigma 3 in the authors' code).

    Both are normalised by the number of sampled anchors, as torchvision and the authors do.
    """
    sampled = labels >= 0
    positive = labels > 0
    if not sampled.any():
        zero = objectness.sum() * 0.0 + deltas.sum() * 0.0
        return zero, zero.clone()
    n = sampled.sum()
    obj = F.binary_cross_entropy_with_logits(objectness[sampled], labels[sampled], reduction="sum")
    box = F.smooth_l1_loss(deltas[positive], targets[positive], beta=beta, reduction="sum")
    return obj / n, box / n + deltas.sum() * 0.0


def roi_losses(
    class_logits: torch.Tensor,
    deltas: torch.Tensor,
    labels: torch.Tensor,
    box_targets: torch.Tensor,
    *,
    beta: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Classification CE over the sampled ROIs and class-specific box smooth-L1 [19].

    Args:
        class_logits: (R, T + 1), index 0 = void / background. deltas: (R, T, 4).
        labels: (R,) int64 in 0..T (0 = background). box_targets: (R, 4), used where labels > 0.
        beta: smooth-L1 transition point (1, sigma 1 in the authors' code).

    The box loss is summed over the positives and divided by the number of sampled ROIs.
    """
    if labels.numel() == 0:
        zero = class_logits.sum() * 0.0 + deltas.sum() * 0.0
        return zero, zero.clone()
    cls = F.cross_entropy(class_logits, labels)
    positive = torch.nonzero(labels > 0).flatten()
    chosen = deltas[positive, labels[positive] - 1]  # (P, 4): the deltas of each gt class
    box = F.smooth_l1_loss(chosen, box_targets[positive], beta=beta, reduction="sum")
    return cls, box / labels.numel() + deltas.sum() * 0.0


def mask_loss(
    mask_logits: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """Per-pixel BCE of the mask of each positive ROI's gt class [19].

    Args:
        mask_logits: (P, T, 28, 28) for the P positive ROIs. labels: (P,) thing index 0..T-1.
        targets: (P, 28, 28) float in [0, 1], the gt mask resampled into each ROI.
    """
    if labels.numel() == 0:
        return mask_logits.sum() * 0.0
    chosen = mask_logits[torch.arange(labels.numel(), device=labels.device), labels]
    return F.binary_cross_entropy_with_logits(chosen, targets)
