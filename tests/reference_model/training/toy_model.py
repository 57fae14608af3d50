"""A small panoptic-style network for testing the trainer before (and besides) the real model.

It honours the model interface of docs/contracts.md §2 in training mode: `model(images,
targets)` returns a dict of scalar losses with contract keys. `semantic` is the per-pixel
cross-entropy (ignore 255) averaged per image, then over images; `rpn_objectness` is a per-pixel
binary cross-entropy of "this pixel belongs to a non-crowd thing", averaged the same way.
Per-image means make a batch's loss the mean of its images' losses, so a DDP job (gradients
averaged over ranks) computes exactly what one process computes on the whole batch.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class ToyPanopticNet(nn.Module):
    def __init__(self, n_classes: int, *, norm: str = "batch", dropout: float = 0.1) -> None:
        super().__init__()

        def norm_layer(channels: int) -> nn.Module:
            return nn.BatchNorm2d(channels) if norm == "batch" else nn.GroupNorm(4, channels)

        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False),
            norm_layer(16),
            nn.ReLU(),
            nn.Dropout2d(dropout),  # draws from torch's RNG: resume must restore it
            nn.Conv2d(16, 16, 3, padding=1, bias=False),
            norm_layer(16),
            nn.ReLU(),
        )
        self.semantic_head = nn.Conv2d(16, n_classes, 1)
        self.objectness_head = nn.Conv2d(16, 1, 1)

    def forward(
        self, images: torch.Tensor, targets: list[dict[str, torch.Tensor]]
    ) -> dict[str, torch.Tensor]:
        features = self.body(images)  # (B, 16, H/2, W/2)
        size = images.shape[-2:]
        semantic = F.interpolate(self.semantic_head(features), size=size, mode="bilinear")
        objectness = F.interpolate(self.objectness_head(features), size=size, mode="bilinear")
        sem_losses, obj_losses = [], []
        for k, target in enumerate(targets):
            h, w = target["semantic"].shape  # the image's size inside the padded batch
            sem_losses.append(
                F.cross_entropy(
                    semantic[k : k + 1, :, :h, :w], target["semantic"][None], ignore_index=255
                )
            )
            masks = target["masks"][~target["iscrowd"]]
            things = (
                masks.any(dim=0)
                if len(masks)
                else torch.zeros_like(target["semantic"], dtype=torch.bool)
            )
            obj_losses.append(
                F.binary_cross_entropy_with_logits(objectness[k, 0, :h, :w], things.float())
            )
        return {
            "semantic": torch.stack(sem_losses).mean(),
            "rpn_objectness": torch.stack(obj_losses).mean(),
        }
