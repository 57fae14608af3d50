"""ImageNet initialisation of the body from torchvision's ResNet-50 weights (§5).

The paper initialises the body with "PyTorch's ImageNet-pretrained ResNet-50" (torchvision's
`IMAGENET1K_V1` weights), despite the different activation. The body's module names are
torchvision's, so the state dict loads by name (its `fc.*` classifier is dropped).

`BodyConfig.weights`:
- "imagenet": torchvision's file from the torch hub cache, downloaded there if the network
  allows. Offline without the file, a clear error says how to provide it.
- a path: a torchvision ResNet-50 state dict saved locally (e.g. `resnet50-0676ba61.pth`).
- "scratch": random initialisation; only when asked for explicitly.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

SCRATCH = "scratch"
IMAGENET = "imagenet"


class PretrainedWeightsError(RuntimeError):
    """The ImageNet weights asked for cannot be found, read or loaded."""


def imagenet_state_dict() -> dict[str, torch.Tensor]:
    """torchvision's ResNet-50 IMAGENET1K_V1 state dict (hub cache or download)."""
    from torchvision.models import ResNet50_Weights

    weights = ResNet50_Weights.IMAGENET1K_V1
    try:
        state = weights.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # urllib errors, hash mismatch, no network: all say the same
        raise PretrainedWeightsError(
            f"cannot obtain torchvision's ImageNet ResNet-50 weights ({weights.url}): {exc}. "
            "Offline, download that file elsewhere and set body.weights to its path (or put it "
            "in torch.hub's checkpoint cache); set body.weights = 'scratch' to train from "
            "scratch instead (the paper's numbers need the ImageNet weights)."
        ) from exc
    return dict(state)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a local file, safely (`weights_only=True`)."""
    path = Path(path)
    if not path.is_file():
        raise PretrainedWeightsError(
            f"body.weights: {path} does not exist (expected a torchvision ResNet-50 state dict, "
            "'imagenet' or 'scratch')"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise PretrainedWeightsError(f"{path}: not a readable PyTorch state dict ({exc})") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PretrainedWeightsError(f"{path}: expected a dict of tensors (a state dict)")
    return state


def load_body_weights(body: nn.Module, weights: str, *, source: str = "") -> None:
    """Initialise `body` as `BodyConfig.weights` says; errors name the file and the key."""
    if weights == SCRATCH:
        log.debug("body initialised from scratch (body.weights = 'scratch')")
        return
    state = imagenet_state_dict() if weights == IMAGENET else read_state_dict(weights)
    name = source or weights
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    own = body.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise PretrainedWeightsError(
            f"{name}: does not fit the body ({len(missing)} missing keys, e.g. {missing[:3]}; "
            f"{len(unexpected)} unexpected, e.g. {unexpected[:3]}); body.weights needs a "
            "torchvision ResNet-50 state dict and a ResNet-50 body"
        )
    for key, value in state.items():
        if value.shape != own[key].shape:
            raise PretrainedWeightsError(
                f"{name}: {key} has shape {tuple(value.shape)}, the body needs "
                f"{tuple(own[key].shape)}"
            )
    body.load_state_dict(state)
    log.info("body initialised from %s", name)
