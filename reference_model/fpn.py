"""The feature pyramid (§3.1): torchvision's FPN with norm + activation, plus P6 (P7) from C5.

torchvision's `FeaturePyramidNetwork` with `norm_layer` = the `NormAct` factory builds what the
authors' code has: lateral 1x1 convs and 3x3 output convs without bias, each followed by
norm + leaky ReLU, nearest-neighbour top-down. The extra levels are what the paper changes:
a stride-2 3x3 conv (+ norm + activation) on C5 gives P6, and another on P6 gives P7 (Vistas).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import ExtraFPNBlock

from .modules.norm_act import NormAct


class ExtraLevels(ExtraFPNBlock):
    """P6 = conv3x3/2(C5) and, for two levels, P7 = conv3x3/2(P6), each with norm + activation."""

    def __init__(self, in_channels: int, channels: int, levels: int, norm_act: NormAct) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        for index in range(levels):
            source = in_channels if index == 0 else channels
            conv = nn.Conv2d(source, channels, 3, stride=2, padding=1, bias=False)
            self.convs.append(nn.Sequential(conv, norm_act(channels)))

    def forward(
        self, results: list[torch.Tensor], x: list[torch.Tensor], names: list[str]
    ) -> tuple[list[torch.Tensor], list[str]]:
        y = x[-1]  # C5: (B, 2048, H/32, W/32)
        for index, conv in enumerate(self.convs):
            y = conv(y)  # (B, 256, H/64, W/64), then (B, 256, H/128, W/128)
            results.append(y)
            names.append(f"p{6 + index}")
        return results, names


class FPN(nn.Module):
    """Pyramid levels P2..P5 (+ P6, P7) with `channels` channels each, strides 4..128."""

    def __init__(
        self, in_channels: list[int], *, channels: int, extra_levels: int, norm_act: NormAct
    ) -> None:
        super().__init__()
        extra = ExtraLevels(in_channels[-1], channels, extra_levels, norm_act)
        self.pyramid = FeaturePyramidNetwork(
            in_channels, channels, extra_blocks=extra if extra_levels else None, norm_layer=norm_act
        )
        self.strides = [4 * 2**k for k in range(len(in_channels) + extra_levels)]
        self.channels = channels

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        named = OrderedDict((f"c{k + 2}", f) for k, f in enumerate(features))
        return list(self.pyramid(named).values())  # [(B, 256, H/4, W/4), ..., (B, 256, H/64, ..)]


class Backbone(nn.Module):
    """Body + FPN: images (B, 3, H, W) -> pyramid levels, the input of every head."""

    def __init__(self, body: nn.Module, fpn: FPN) -> None:
        super().__init__()
        self.body = body
        self.fpn = fpn

    @property
    def strides(self) -> list[int]:
        return self.fpn.strides

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        levels: list[torch.Tensor] = self.fpn(self.body(images))  # P2.. (B, 256, H/4, W/4), ..
        return levels
