"""The semantic segmentation head (§3.3): one Mini-DeepLab per pyramid level, and a plain
FPN head (Panoptic FPN, Kirillov et al. 2019) as the ablation baseline.

MiniDL: three parallel branches on the level's features, (a) 3x3 conv 128, (b) 3x3 conv 128
with dilation 6, (c) 64 x 64 average pooling with stride 1 and no padding, replicate-padded
back to the input size, then 1x1 conv 128; concatenated (384), then a conv to 128 (1x1 in the
authors' code and the paper's parameter count, 3x3 in §3.3's text: `output_kernel`). Every conv
is followed by norm + activation (one norm over the concatenation is the same as one per
branch: BN statistics are per channel). The pooling kernel is clipped to the feature size, so
on an input smaller than the kernel the branch is DeepLabV3's global pooling (§3.3).

The head: MiniDL on P2..P5 (weights not shared), each upsampled bilinearly to stride 4,
concatenated (4 x 128), a 1x1 conv to the classes. The caller upsamples the logits to the
image (bilinear, `upsample_logits`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .config import SemanticConfig
from .modules.norm_act import NormAct

SEMANTIC_LEVELS = 4  # §3.3: the first four scales of the FPN, P2..P5


def pool_and_replicate(x: torch.Tensor, size: int) -> torch.Tensor:
    """Average pool `size` x `size`, stride 1, no padding; replicate-pad back to x's size."""
    kh, kw = min(size, x.shape[-2]), min(size, x.shape[-1])
    pooled = box_mean(x, kh, kw)  # (B, C, H - kh + 1, W - kw + 1)
    # Split the (k - 1) missing rows / columns between the two sides, the extra one after.
    return replicate_pad(pooled, (kw - 1) // 2, kw // 2, (kh - 1) // 2, kh // 2)  # (B, C, H, W)


def replicate_pad(x: torch.Tensor, left: int, right: int, top: int, bottom: int) -> torch.Tensor:
    """`F.pad(x, (left, right, top, bottom), mode="replicate")` as edge rows and columns
    expanded and concatenated: the same values, and a backward that is a sum over each
    expanded edge. CUDA's replication-pad backward took 117 ms a call at the paper's size,
    92% of a training step on an H200 (benchmark/README.md, "The CUDA paths")."""
    lead = x.shape[:-2]
    if top or bottom:
        width = x.shape[-1]
        first, last = x[..., :1, :], x[..., -1:, :]
        x = torch.cat(
            [first.expand(*lead, top, width), x, last.expand(*lead, bottom, width)], dim=-2
        )
    if left or right:
        height = x.shape[-2]
        first, last = x[..., :1], x[..., -1:]
        x = torch.cat(
            [first.expand(*lead, height, left), x, last.expand(*lead, height, right)], dim=-1
        )
    return x


def box_mean(x: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    """`F.avg_pool2d(x, (kh, kw), stride=1)` by running sums (an integral image), in float32.

    O(1) per output instead of O(kh * kw): a 64 x 64 pool on a 256 x 512 P2 map costs less
    than its 1x1 conv instead of more than the whole body. Agrees with avg_pool2d to ~1e-7.
    """
    y = x.float()
    y = F.pad(y.cumsum(-2), (0, 0, 1, 0))
    y = y[..., kh:, :] - y[..., :-kh, :]  # (B, C, H - kh + 1, W): sums over kh rows
    y = F.pad(y.cumsum(-1), (1, 0))
    y = y[..., kw:] - y[..., :-kw]  # (B, C, H - kh + 1, W - kw + 1): sums over kh x kw
    return (y / (kh * kw)).to(x.dtype)


class MiniDL(nn.Module):
    """Mini-DeepLab (§3.3, Fig. 2)."""

    def __init__(
        self,
        channels: int,
        hidden: int,
        *,
        dilation: int,
        pooling_size: int,
        output_kernel: int,
        norm_act: NormAct,
    ) -> None:
        super().__init__()
        self.pooling_size = pooling_size
        self.conv_3x3 = nn.Conv2d(channels, hidden, 3, padding=1, bias=False)
        self.conv_dilated = nn.Conv2d(
            channels, hidden, 3, padding=dilation, dilation=dilation, bias=False
        )
        self.conv_pooled = nn.Conv2d(channels, hidden, 1, bias=False)
        self.norm_branches = norm_act(3 * hidden)
        self.conv_out = nn.Conv2d(
            3 * hidden, hidden, output_kernel, padding=output_kernel // 2, bias=False
        )
        self.norm_out = norm_act(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [
            self.conv_3x3(x),  # (B, 128, h, w)
            self.conv_dilated(x),  # (B, 128, h, w)
            self.conv_pooled(pool_and_replicate(x, self.pooling_size)),  # (B, 128, h, w)
        ]
        x = self.norm_branches(torch.cat(branches, dim=1))  # (B, 384, h, w)
        out: torch.Tensor = self.norm_out(self.conv_out(x))  # (B, 128, h, w)
        return out


class MiniDeepLabHead(nn.Module):
    """MiniDL per level, upsampled to stride 4, concatenated, 1x1 conv to the classes."""

    def __init__(
        self, channels: int, num_classes: int, config: SemanticConfig, norm_act: NormAct
    ) -> None:
        super().__init__()
        self.levels = nn.ModuleList(
            MiniDL(
                channels,
                config.channels,
                dilation=config.dilation,
                pooling_size=config.pooling_size,
                output_kernel=config.output_kernel,
                norm_act=norm_act,
            )
            for _ in range(SEMANTIC_LEVELS)
        )
        self.classifier = nn.Conv2d(SEMANTIC_LEVELS * config.channels, num_classes, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        size = features[0].shape[-2:]  # stride 4
        outs = [
            F.interpolate(m(f), size=size, mode="bilinear", align_corners=False) if k else m(f)
            for k, (m, f) in enumerate(zip(self.levels, features[:SEMANTIC_LEVELS], strict=True))
        ]
        logits: torch.Tensor = self.classifier(torch.cat(outs, dim=1))  # (B, classes, H/4, W/4)
        return logits


class FPNSemanticHead(nn.Module):
    """Panoptic FPN's semantic head: per level, 3x3 conv + norm/act and 2x upsampling repeated
    until stride 4 (one conv on P2), summed, a 1x1 conv to the classes."""

    def __init__(
        self, channels: int, num_classes: int, config: SemanticConfig, norm_act: NormAct
    ) -> None:
        super().__init__()
        self.levels = nn.ModuleList()
        for level in range(SEMANTIC_LEVELS):
            layers: list[nn.Module] = []
            for step in range(max(1, level)):
                source = channels if step == 0 else config.channels
                layers += [
                    nn.Conv2d(source, config.channels, 3, padding=1, bias=False),
                    norm_act(config.channels),
                ]
                if level:
                    layers.append(nn.Upsample(scale_factor=2.0, mode="bilinear"))
            self.levels.append(nn.Sequential(*layers))
        self.classifier = nn.Conv2d(config.channels, num_classes, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        size = features[0].shape[-2:]
        total = self.levels[0](features[0])  # (B, 128, H/4, W/4)
        for m, f in zip(self.levels[1:], features[1:SEMANTIC_LEVELS], strict=True):
            total = total + F.interpolate(m(f), size=size, mode="bilinear", align_corners=False)
        logits: torch.Tensor = self.classifier(total)  # (B, classes, H/4, W/4)
        return logits


def semantic_head(
    channels: int, num_classes: int, config: SemanticConfig, norm_act: NormAct
) -> nn.Module:
    """The head `config.head` names: "mini_deeplab" (§3.3) or "fpn" (the ablation)."""
    if config.head == "mini_deeplab":
        return MiniDeepLabHead(channels, num_classes, config, norm_act)
    if config.head == "fpn":
        return FPNSemanticHead(channels, num_classes, config, norm_act)
    raise ValueError(f"semantic.head must be 'mini_deeplab' or 'fpn', got {config.head!r}")


def upsample_logits(logits: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling of (B, C, H/4, W/4) logits to the input size (§3.3)."""
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
