"""Normalisation + activation as one module, the interface every layer of the model uses.

The paper replaces every BN + ReLU with in-place activated BN (iABN, [46]) and leaky ReLU
of slope 0.01 (§3.1). A layer of the model takes a *factory* `NormAct` (channels -> module)
so that the same network is built with plain BN + leaky ReLU (`ABN`, the fallback and the
reference the in-place variants are tested against), in-place ABN or its synchronised form.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn
from torch.nn import functional as F

LEAKY_SLOPE = 0.01  # §3.1: leaky ReLU with slope 0.01, invertible as iABN needs


class NormAct(Protocol):
    """A norm + activation factory: channels -> module; `activation="identity"` for a plain norm.

    `ABN`, the in-place ABN classes and `factory.group_norm_act(groups)` are such factories.
    """

    def __call__(self, num_features: int, /, *, activation: str = ...) -> nn.Module: ...


class ABN(nn.BatchNorm2d):
    """BatchNorm2d followed by an activation: "leaky_relu" (default), "relu" or "identity".

    Same parameters and buffers as `nn.BatchNorm2d` (so torchvision's BN weights load into
    it by name) plus the activation; this is the non-in-place reference of iABN.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        activation: str = "leaky_relu",
        activation_param: float = LEAKY_SLOPE,
    ) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum, affine=True)
        if activation not in ("leaky_relu", "relu", "identity"):
            raise ValueError(f"activation must be leaky_relu, relu or identity, got {activation!r}")
        self.activation = activation
        self.activation_param = activation_param

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = super().forward(x)
        if self.activation == "leaky_relu":
            return F.leaky_relu(x, self.activation_param)
        if self.activation == "relu":
            return F.relu(x)
        return x

    def extra_repr(self) -> str:
        norm = super().extra_repr()  # type: ignore[no-untyped-call]  # unannotated in torch
        return f"{norm}, activation={self.activation}({self.activation_param})"
