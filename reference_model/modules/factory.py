"""Choosing the norm + activation layer by name, and the GroupNorm variant of the ROI head.

Every layer of the model takes a `NormAct` factory (channels -> module); `norm_act_factory`
returns the one a config names. The in-place ABN modules are imported lazily, so the network
builds with "abn" where `reference_model.modules.inplace_abn` is not available.

A factory is also called as `norm_act(channels, activation="identity")` where the paper has a
norm without activation (the last BN of a residual block and of its shortcut, whose ReLU comes
after the addition); `ABN`, the in-place ABN modules and `GroupNormAct` all take that keyword.
"""

from __future__ import annotations

import importlib
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from .norm_act import ABN, LEAKY_SLOPE, NormAct

NORM_NAMES = ("inplace_abn_sync", "inplace_abn", "abn")


def norm_act_factory(name: str) -> NormAct:
    """The `NormAct` class named by a config: "inplace_abn_sync", "inplace_abn" or "abn"."""
    if name == "abn":
        return ABN
    if name not in NORM_NAMES:
        raise ValueError(f"norm must be one of {NORM_NAMES}, got {name!r}")
    try:
        module = importlib.import_module("reference_model.modules.inplace_abn")
    except ImportError as exc:
        raise ImportError(
            f"norm {name!r} needs reference_model.modules.inplace_abn, which cannot be imported "
            f"({exc}); use norm='abn' (BN + leaky ReLU, the same maths without the memory saving)"
        ) from exc
    cls: NormAct = getattr(module, "InPlaceABNSync" if name == "inplace_abn_sync" else "InPlaceABN")
    return cls


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
    if isinstance(module, nn.modules.batchnorm._NormBase | nn.GroupNorm | nn.LayerNorm):
        return True
    return type(module).__name__ in ("InPlaceABN", "InPlaceABNSync")
