"""SGD over the trainable parameters, with or without weight decay on normalisation layers."""

from __future__ import annotations

import importlib
import logging

import torch
from torch import nn
from torch.nn.modules.batchnorm import _NormBase

from .config import TrainingConfig

log = logging.getLogger(__name__)


def _norm_types() -> tuple[type[nn.Module], ...]:
    """Normalisation layers: torch's, the model's ABN, and in-place ABN where it exists."""
    types: list[type[nn.Module]] = [_NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm]
    from reference_model.modules.norm_act import ABN

    types.append(ABN)
    try:  # written alongside this trainer; absent in older checkouts
        inplace_abn = importlib.import_module("reference_model.modules.inplace_abn")
    except ImportError:
        pass
    else:
        types.extend(
            cls
            for name in ("InPlaceABN", "InPlaceABNSync")
            if isinstance(cls := getattr(inplace_abn, name, None), type)
            and issubclass(cls, nn.Module)
        )
    return tuple(types)


def split_norm_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(normalisation parameters, all other parameters), trainable ones only, each once."""
    norm_types = _norm_types()
    seen: set[int] = set()
    norm: list[nn.Parameter] = []
    other: list[nn.Parameter] = []
    for module in model.modules():
        is_norm = isinstance(module, norm_types)
        for param in module.parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            (norm if is_norm else other).append(param)
    return norm, other


def make_optimizer(model: nn.Module, config: TrainingConfig) -> torch.optim.SGD:
    """SGD with momentum; `weight_decay_norm=False` puts norm parameters in a no-decay group."""
    norm, other = split_norm_parameters(model)
    if not norm and not other:
        raise ValueError("the model has no trainable parameters")
    decay_norm = config.weight_decay if config.weight_decay_norm else 0.0
    groups = [
        {"params": other, "weight_decay": config.weight_decay, "name": "decay"},
        {"params": norm, "weight_decay": decay_norm, "name": "norm"},
    ]
    log.info(
        "optimiser: %d tensors with weight decay %g, %d norm tensors with %g",
        len(other),
        config.weight_decay,
        len(norm),
        decay_norm,
    )
    return torch.optim.SGD(
        [g for g in groups if g["params"]],
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=config.weight_decay,
    )
