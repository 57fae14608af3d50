"""SGD over the trainable parameters, with or without weight decay on the norm layers.

The parameter groups are the model's (`reference_model.build.parameter_groups`, the one place
that tells norm parameters from the others); this module only adds the optimiser settings.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from reference_model.build import parameter_groups

from .config import TrainingConfig

log = logging.getLogger(__name__)


def make_optimizer(
    model: nn.Module, config: TrainingConfig, *, weight_decay_norm: bool
) -> torch.optim.SGD:
    """SGD with momentum over `model`'s trainable parameters.

    Args:
        model: the network (frozen parameters are left out).
        config: lr, momentum, Nesterov and weight decay.
        weight_decay_norm: also decay the norm layers' parameters (`ModelConfig`'s switch of
            the same name; False in the paper's "no freeze|decay BN" variant).
    """
    groups = parameter_groups(
        model, weight_decay=config.weight_decay, weight_decay_norm=weight_decay_norm
    )
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise ValueError("the model has no trainable parameters")
    for group in groups:
        log.info(
            "optimiser: %d %s tensors, weight decay %g",
            len(group["params"]),
            group["name"],
            group["weight_decay"],
        )
    return torch.optim.SGD(
        groups,
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=config.weight_decay,
    )
