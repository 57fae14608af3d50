"""Activation memory of a ResNet-50 body with in-place ABN against BN + leaky ReLU.

The helper behind `benchmark/test_iabn_memory.py`. torchvision's ResNet-50 (conv1 .. layer4,
no classifier) gets every BN + ReLU replaced by one of three norm-act variants:

- `abn`: `ABN`, BN then an out-of-place leaky ReLU (the project's fallback);
- `bn_inplace_act`: `nn.BatchNorm2d` then an in-place leaky ReLU (the iABN paper's "standard
  BN" baseline, what torchvision does with its in-place ReLU);
- `inplace_abn`: `InPlaceABN`.

The BN before the residual addition (bn3, and the shortcut's BN) has no activation; the leaky
ReLU after the addition stays a separate in-place activation in every variant, as in the
authors' code. So the variants differ only in the norm-act modules.

Memory is measured device-agnostically as the bytes of the distinct storages that autograd
saves for backward during the forward pass (`saved_tensors_hooks`, parameters and the input
image excluded): the activation memory held at the end of the forward, the peak of a
training step but for the transient buffers of backward. On CUDA the peak of
`torch.cuda.max_memory_allocated` over a forward+backward step (above the memory held before
it: parameters, their gradients and the input) is measured as well.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.autograd.graph import saved_tensors_hooks
from torch.nn import functional as F
from torchvision.models import resnet50
from torchvision.models.resnet import Bottleneck

from reference_model.modules.inplace_abn import InPlaceABN
from reference_model.modules.norm_act import ABN, LEAKY_SLOPE

# channels, activation ("leaky_relu" | "identity") -> module
VariantFactory = Callable[[int, str], nn.Module]


def _bn_inplace_act(channels: int, activation: str) -> nn.Module:
    if activation == "identity":
        return nn.BatchNorm2d(channels)
    return nn.Sequential(nn.BatchNorm2d(channels), nn.LeakyReLU(LEAKY_SLOPE, inplace=True))


VARIANTS: dict[str, VariantFactory] = {
    "abn": lambda c, a: ABN(c, activation=a),
    "bn_inplace_act": _bn_inplace_act,
    "inplace_abn": lambda c, a: InPlaceABN(c, activation=a),
}


def _channels(norm: nn.Module) -> int:
    """The channels of one of torchvision's BatchNorm2d layers."""
    if not isinstance(norm, nn.BatchNorm2d):
        raise TypeError(f"expected torchvision's BatchNorm2d, got {type(norm).__name__}")
    return norm.num_features


class NormActBottleneck(nn.Module):
    """torchvision's Bottleneck with its BN + ReLU pairs replaced by norm-act modules."""

    def __init__(self, block: Bottleneck, norm_act: VariantFactory) -> None:
        super().__init__()
        self.conv1, self.conv2, self.conv3 = block.conv1, block.conv2, block.conv3
        self.bn1 = norm_act(_channels(block.bn1), "leaky_relu")
        self.bn2 = norm_act(_channels(block.bn2), "leaky_relu")
        self.bn3 = norm_act(_channels(block.bn3), "identity")
        self.downsample: nn.Module | None = None
        if block.downsample is not None:
            conv, bn = block.downsample.children()  # torchvision's: 1x1 conv, then BN
            self.downsample = nn.Sequential(conv, norm_act(_channels(bn), "identity"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn1(self.conv1(x))
        out = self.bn2(self.conv2(out))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.leaky_relu_(out + shortcut, LEAKY_SLOPE)  # after the addition, as in seamseg


def resnet50_body(variant: str) -> nn.Sequential:
    """ResNet-50 conv1 .. layer4 (stride 32, 2048 channels) with the given norm-act variant."""
    norm_act = VARIANTS[variant]
    net = resnet50(weights=None)
    layers = [
        nn.Sequential(*(NormActBottleneck(block, norm_act) for block in layer))
        for layer in (net.layer1, net.layer2, net.layer3, net.layer4)
    ]
    stem = [net.conv1, norm_act(_channels(net.bn1), "leaky_relu"), net.maxpool]
    return nn.Sequential(*stem, *layers)


def conv_chain(variant: str, *, depth: int = 6, channels: int = 32) -> nn.Sequential:
    """`depth` x (3x3 conv -> norm-act): where iABN saves the most (the paper's "up to 50%").

    Saved per layer: `abn` the conv output, the BN output and the activation output (the next
    conv's input); `bn_inplace_act` the conv output and the activation output; `inplace_abn`
    only its output, the next conv's input. The last layer's output feeds no conv.
    """
    norm_act = VARIANTS[variant]
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Conv2d(3 if i == 0 else channels, channels, 3, padding=1, bias=False)]
        layers += [norm_act(channels, "leaky_relu")]
    return nn.Sequential(*layers)


MODELS: dict[str, Callable[[str], nn.Module]] = {
    "resnet50": resnet50_body,
    "conv_chain": conv_chain,
}


def saved_storages(model: nn.Module, images: torch.Tensor) -> dict[int, int]:
    """Address -> bytes of each distinct storage saved for backward by one forward (then
    backward), parameters and the input excluded."""
    excluded = {p.untyped_storage().data_ptr() for p in model.parameters()}
    excluded.add(images.untyped_storage().data_ptr())
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in excluded:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with saved_tensors_hooks(pack, lambda t: t):
        loss = model(images).float().mean()
    loss.backward()
    model.zero_grad(set_to_none=True)
    return storages


def saved_activation_bytes(model: nn.Module, images: torch.Tensor) -> int:
    """Bytes of the activations saved for backward by one forward: `saved_storages` summed."""
    return sum(saved_storages(model, images).values())


def train_step(model: nn.Module, images: torch.Tensor) -> None:
    """One forward + backward (no optimizer step), gradients accumulated in place."""
    model(images).float().mean().backward()


def cuda_peak_step_bytes(model: nn.Module, images: torch.Tensor) -> int:
    """Peak CUDA memory of a forward+backward step above what was held before it."""
    train_step(model, images)  # gradients exist from here on: not counted as activations
    torch.cuda.synchronize(images.device)
    torch.cuda.reset_peak_memory_stats(images.device)
    before = torch.cuda.memory_allocated(images.device)
    train_step(model, images)
    torch.cuda.synchronize(images.device)
    return torch.cuda.max_memory_allocated(images.device) - before


@dataclass(frozen=True)
class MemoryMeasurement:
    """Activation memory of one variant, in bytes; `cuda_peak_bytes` None off CUDA."""

    variant: str
    saved_bytes: int
    cuda_peak_bytes: int | None
    seconds_per_step: float


def measure(
    model_name: str, variant: str, images: torch.Tensor, *, steps: int = 1
) -> MemoryMeasurement:
    """Build a model of `MODELS` on the images' device, measure its memory and step time."""
    torch.manual_seed(0)
    model = MODELS[model_name](variant).to(images.device).train()
    saved = saved_activation_bytes(model, images)
    peak = cuda_peak_step_bytes(model, images) if images.device.type == "cuda" else None
    start = time.perf_counter()
    for _ in range(steps):
        train_step(model, images)
    if images.device.type == "cuda":
        torch.cuda.synchronize(images.device)
    seconds = (time.perf_counter() - start) / steps
    return MemoryMeasurement(variant, saved, peak, seconds)
