"""Choosing the norm + activation layer a config names, and the GroupNorm variant of the ROI head.

Every layer of the model takes a `NormAct` factory (channels -> module); `norm_act_factory`
returns the one a config names.

A factory is also called as `norm_act(channels, activation="identity")` where the paper has a
norm without activation (the last BN of a residual block and of its shortcut, whose ReLU comes
after the addition); `ABN`, the in-place ABN modules and `GroupNormAct` all take that keyword.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from .inplace_abn import InPlaceABN, InPlaceABNSync
from .norm_act import ABN, LEAKY_SLOPE, NormAct

NORM_NAMES = ("inplace_abn_sync", "inplace_abn", "abn")


def norm_act_factory(name: str) -> NormAct:
    """The `NormAct` class named by a config: "inplace_abn_sync", "inplace_abn" or "abn"."""
    if name == "inplace_abn_sync":
        return InPlaceABNSync
    if name == "inplace_abn":
        return InPlaceABN
    if name == "abn":
        return ABN
    raise ValueError(f"norm must be one of {NORM_NAMES}, got {name!r}")


class GroupNormAct(nn.GroupNorm):
    """GroupNorm [52] followed by leaky ReLU 0.01 (or identity): the ROI head of §3.2.

    Takes (N, C) or (N, C, H, W). Same constructor keywords as `ABN` after the groups.
    """

    def __init__(
        self,
        num_groups: int,
        num_features: int,
        eps: float = 1e-5,
        activation: str = "leaky_relu",
        activation_param: float = LEAKY_SLOPE,
    ) -> None:
        super().__init__(num_groups, num_features, eps=eps, affine=True)
        if activation not in ("leaky_relu", "identity"):
            raise ValueError(f"activation must be leaky_relu or identity, got {activation!r}")
        self.activation = activation
        self.activation_param = activation_param

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = super().forward(x)
        return F.leaky_relu(x, self.activation_param) if self.activation == "leaky_relu" else x


def group_norm_act(groups: int) -> NormAct:
    """A `NormAct` factory of `GroupNormAct` with `groups` groups."""
    return partial(GroupNormAct, groups)


def is_norm(module: nn.Module) -> bool:
    """Whether a module is a normalisation layer (BN, ABN, in-place ABN, GroupNorm, ...)."""
    # ABN and the in-place ABN classes are BatchNorm2d subclasses: _NormBase covers them.
    return isinstance(module, nn.modules.batchnorm._NormBase | nn.GroupNorm | nn.LayerNorm)
