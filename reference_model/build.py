"""Builders (keyword arguments only): the two forms from a `ModelConfig`, and the parameter
groups the trainer gives to SGD.

    model = build_model(form="combined", config=preset("paper-cityscapes"))

The independent form's semantic network has no P6/P7: its head reads P2..P5 only (§3.3), so an
extra level would be a conv that nothing uses. Its Mask R-CNN network has the preset's levels.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .body import resnet_body
from .config import ModelConfig
from .fpn import FPN, Backbone
from .model import CombinedModel, IndependentModel, InstanceNetwork, PanopticModel, SemanticNetwork
from .modules.factory import group_norm_act, is_norm, norm_act_factory
from .modules.norm_act import NormAct
from .pretrained import load_body_weights
from .roi_head import BoxHead, MaskHead, ROIHead
from .rpn import RPN, RPNHead
from .semantic_head import semantic_head

FORMS = ("combined", "independent")


def build_model(*, form: str, config: ModelConfig) -> PanopticModel:
    """The `combined` or `independent` network of `config`, initialised as `config.body.weights`
    says (ImageNet ResNet-50, a local file, or from scratch)."""
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    norm_act = norm_act_factory(config.norm)
    model: PanopticModel
    if form == "combined":
        backbone = build_backbone(config=config, norm_act=norm_act)
        rpn, roi = build_instance_heads(config=config, backbone=backbone, norm_act=norm_act)
        sem = semantic_head(config.fpn.channels, config.num_classes, config.semantic, norm_act)
        model = CombinedModel(backbone, rpn, roi, sem, config)
    else:
        sem_backbone = build_backbone(config=config, norm_act=norm_act, extra_levels=0)
        sem = semantic_head(config.fpn.channels, config.num_classes, config.semantic, norm_act)
        ins_backbone = build_backbone(config=config, norm_act=norm_act)
        rpn, roi = build_instance_heads(config=config, backbone=ins_backbone, norm_act=norm_act)
        model = IndependentModel(
            SemanticNetwork(sem_backbone, sem, config),
            InstanceNetwork(ins_backbone, rpn, roi),
            config,
        )
    if config.norm_frozen:
        freeze_norms(model)
    return model


def build_backbone(
    *, config: ModelConfig, norm_act: NormAct, extra_levels: int | None = None
) -> Backbone:
    """ResNet body (with its initial weights) + FPN."""
    body = resnet_body(config.body, norm_act)
    load_body_weights(body, config.body.weights)
    levels = config.fpn.extra_levels if extra_levels is None else extra_levels
    fpn = FPN(
        body.out_channels, channels=config.fpn.channels, extra_levels=levels, norm_act=norm_act
    )
    return Backbone(body, fpn)


def build_instance_heads(
    *, config: ModelConfig, backbone: Backbone, norm_act: NormAct
) -> tuple[RPN, ROIHead]:
    """RPN on every pyramid level and the ROI head on P2..P5."""
    rc, oc, channels = config.rpn, config.roi, config.fpn.channels
    rpn_head = RPNHead(
        channels,
        rc.hidden_channels,
        len(rc.anchor_ratios),
        stride=rc.conv_stride,
        norm_act=norm_act,
    )
    roi_norm = group_norm_act(oc.group_norm_groups) if oc.norm == "group_norm" else norm_act
    box = BoxHead(channels, oc.roi_size, oc.fc_channels, config.num_things, roi_norm)
    mask = MaskHead(channels, oc.mask_channels, oc.mask_convs, config.num_things, roi_norm)
    return RPN(rpn_head, rc, backbone.strides), ROIHead(box, mask, oc, backbone.strides)


def freeze_norms(model: nn.Module) -> None:
    """Freeze every norm layer's affine parameters (Table 1's "freeze BN").

    As in the authors' code (seamseg `bn_frozen`: learning rate 0 on every norm parameter),
    only the scale and shift stop training: in train mode the layers still normalise with the
    batch statistics and update their running statistics. (The frozen body stages are another
    matter: `Body.train` keeps their norms in eval mode, FrozenBatchNorm-style.) Keeping every
    frozen norm in eval mode instead would turn the freshly initialised FPN and head norms
    into identities (running mean 0, variance 1) for the whole training."""
    for m in model.modules():
        if is_norm(m):
            for p in m.parameters(recurse=False):
                p.requires_grad_(False)


def parameter_groups(
    model: nn.Module, *, weight_decay: float, weight_decay_norm: bool
) -> list[dict[str, Any]]:
    """SGD parameter groups of the trainable parameters (each once), named "decay" and "norm":
    norm layers' parameters without weight decay unless `weight_decay_norm` (the config switch
    of the same name)."""
    norm_params: list[nn.Parameter] = []
    other_params: list[nn.Parameter] = []
    seen: set[int] = set()
    for m in model.modules():
        params = [p for p in m.parameters(recurse=False) if p.requires_grad and id(p) not in seen]
        seen.update(id(p) for p in params)
        (norm_params if is_norm(m) else other_params).extend(params)
    groups: list[dict[str, Any]] = [
        {"params": other_params, "weight_decay": weight_decay, "name": "decay"}
    ]
    if norm_params:
        decay = weight_decay if weight_decay_norm else 0.0
        groups.append({"params": norm_params, "weight_decay": decay, "name": "norm"})
    return groups
