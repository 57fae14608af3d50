"""The body: torchvision's ResNet with every BN + ReLU replaced by a norm + activation (§3.1).

The blocks are torchvision's `Bottleneck` / `BasicBlock` with their norm layers built by the
`NormAct` factory passed in (iABN with leaky ReLU 0.01 in the paper). The last norm of a block
and the norm of its shortcut have no activation: as in ResNet and in the authors' code, the
activation (leaky ReLU here) follows the residual addition. Module and parameter names are
torchvision's (`conv1`, `bn1`, `layer1.0.conv1`, ...), so its ImageNet state dict loads as is.

The stem and the first `frozen_stages - 1` stages can be frozen: their parameters stop
requiring gradients and their norm layers stay in eval mode (fixed statistics).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.models import resnet as tv_resnet

from .config import BodyConfig
from .modules.norm_act import LEAKY_SLOPE, NormAct


class Bottleneck(tv_resnet.Bottleneck):
    """torchvision's bottleneck (stride on the 3x3 conv), norm + activation for BN + ReLU."""

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int,
        downsample: nn.Module | None,
        norm_act: NormAct,
        slope: float = LEAKY_SLOPE,
    ) -> None:
        super().__init__(inplanes, planes, stride, downsample, norm_layer=norm_act)
        self.bn3 = norm_act(planes * self.expansion, activation="identity")
        del self.relu  # the activations live in bn1, bn2 and after the addition
        self.slope = slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)  # (B, 4w, H/s, W/s)
        out = self.bn1(self.conv1(x))  # (B, w, H, W)
        out = self.bn2(self.conv2(out))  # (B, w, H/s, W/s)
        out = self.bn3(self.conv3(out))  # (B, 4w, H/s, W/s), no activation yet
        return F.leaky_relu_(out + identity, self.slope)


class BasicBlock(tv_resnet.BasicBlock):
    """torchvision's basic block (ResNet-18/34 style), for the small synthetic-data body."""

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int,
        downsample: nn.Module | None,
        norm_act: NormAct,
        slope: float = LEAKY_SLOPE,
    ) -> None:
        super().__init__(inplanes, planes, stride, downsample, norm_layer=norm_act)
        self.bn2 = norm_act(planes, activation="identity")
        del self.relu
        self.slope = slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.bn1(self.conv1(x))
        out = self.bn2(self.conv2(out))
        return F.leaky_relu_(out + identity, self.slope)


BLOCKS: dict[str, type[Bottleneck] | type[BasicBlock]] = {
    "bottleneck": Bottleneck,
    "basic": BasicBlock,
}


class ResNetBody(nn.Module):
    """ResNet without its classifier: returns the outputs of conv2..conv5 (strides 4..32)."""

    # conv2..conv5, registered by name in __init__ (torchvision's names, for its state dict)
    layer1: nn.Sequential
    layer2: nn.Sequential
    layer3: nn.Sequential
    layer4: nn.Sequential

    def __init__(
        self,
        *,
        block: str,
        layers: tuple[int, ...],
        widths: tuple[int, ...],
        stem_width: int,
        norm_act: NormAct,
        frozen_stages: int = 0,
        slope: float = LEAKY_SLOPE,
    ) -> None:
        """`slope`: of the leaky ReLU after each residual addition (0 gives ResNet's ReLU)."""
        super().__init__()
        block_cls = BLOCKS[block]
        self.conv1 = nn.Conv2d(3, stem_width, 7, stride=2, padding=3, bias=False)
        self.bn1 = norm_act(stem_width)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes = stem_width
        self.out_channels: list[int] = []
        for index, (n_blocks, width) in enumerate(zip(layers, widths, strict=True)):
            stride = 1 if index == 0 else 2
            stage, inplanes = _make_stage(
                block_cls, inplanes, width, n_blocks, stride, norm_act, slope
            )
            self.add_module(f"layer{index + 1}", stage)
            self.out_channels.append(inplanes)
        self.frozen_stages = frozen_stages
        _init_weights(self)
        self._freeze()

    def stages(self) -> list[nn.Module]:
        """Stem, conv2, conv3, conv4, conv5: the units `frozen_stages` counts."""
        stem = nn.ModuleList([self.conv1, self.bn1])
        return [stem, self.layer1, self.layer2, self.layer3, self.layer4]

    def _freeze(self) -> None:
        for stage in self.stages()[: self.frozen_stages]:
            for p in stage.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> ResNetBody:
        """Train mode everywhere except the frozen stages, whose norm statistics stay fixed."""
        super().train(mode)
        for stage in self.stages()[: self.frozen_stages]:
            stage.eval()
        return self

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.bn1(self.conv1(x)))  # (B, 64, H/4, W/4)
        c2 = self.layer1(x)  # (B, 256, H/4, W/4) for ResNet-50
        c3 = self.layer2(c2)  # (B, 512, H/8, W/8)
        c4 = self.layer3(c3)  # (B, 1024, H/16, W/16)
        c5 = self.layer4(c4)  # (B, 2048, H/32, W/32)
        return [c2, c3, c4, c5]


def _make_stage(
    block_cls: type[Bottleneck] | type[BasicBlock],
    inplanes: int,
    width: int,
    n_blocks: int,
    stride: int,
    norm_act: NormAct,
    slope: float,
) -> tuple[nn.Sequential, int]:
    """One ResNet stage as torchvision's `_make_layer` builds it; returns it and its channels."""
    out = width * block_cls.expansion
    downsample = None
    if stride != 1 or inplanes != out:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, out, 1, stride=stride, bias=False),
            norm_act(out, activation="identity"),
        )
    blocks: list[nn.Module] = [block_cls(inplanes, width, stride, downsample, norm_act, slope)]
    blocks += [block_cls(out, width, 1, None, norm_act, slope) for _ in range(n_blocks - 1)]
    return nn.Sequential(*blocks), out


def _init_weights(module: nn.Module) -> None:
    """He initialisation for leaky ReLU (used when no ImageNet weights are loaded)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(
                m.weight, a=LEAKY_SLOPE, mode="fan_out", nonlinearity="leaky_relu"
            )
        elif isinstance(m, nn.modules.batchnorm._NormBase):  # BN, ABN and in-place ABN
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def resnet_body(config: BodyConfig, norm_act: NormAct) -> ResNetBody:
    """The body a `BodyConfig` describes."""
    return ResNetBody(
        block=config.block,
        layers=config.layers,
        widths=config.widths,
        stem_width=config.stem_width,
        norm_act=norm_act,
        frozen_stages=config.frozen_stages,
    )
