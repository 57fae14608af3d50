"""Typed, frozen configuration of the reference model: one dataclass per component.

Defaults are the paper's Cityscapes configuration (Porzi et al., CVPR 2019) with the section
each comes from; where the paper is silent the value is the authors' code (mapillary/seamseg,
`seamseg/config/defaults/panoptic.ini` + `scripts/configurations/cityscapes_r50.ini`), marked
"seamseg". Named presets (`reference_model.presets`) fill these in per dataset.

`to_dict` / `from_dict` round-trip a config through JSON (the run directory's `config.json`);
`with_overrides` applies dotted-key overrides (`{"rpn.nms_threshold": 0.6}`), checked by name and
type: an unknown key or a value of the wrong type is an error naming the key; `parse_overrides`
reads them from the command line (`rpn.nms_threshold=0.6`). Every config dataclass of the
project (model, data, training, a whole run) goes through these four functions.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

NormName = Literal["inplace_abn_sync", "inplace_abn", "abn"]
BlockName = Literal["bottleneck", "basic"]
RoiNorm = Literal["group_norm", "norm_act"]
SemanticHeadName = Literal["mini_deeplab", "fpn"]
SemanticLossName = Literal["ohem", "cross_entropy"]
Form = Literal["combined", "independent"]


@dataclass(frozen=True)
class BodyConfig:
    """The ResNet body (§3.1). The defaults are torchvision's ResNet-50."""

    block: BlockName = "bottleneck"  # ResNet-50 [20]
    layers: tuple[int, ...] = (3, 4, 6, 3)  # blocks of conv2..conv5 in ResNet-50
    widths: tuple[int, ...] = (64, 128, 256, 512)  # bottleneck widths; outputs are 4x these
    stem_width: int = 64  # the 7x7 stride-2 stem conv of ResNet
    frozen_stages: int = 2  # §5: stem + first stage (conv2) frozen; seamseg num_frozen = 2
    # "imagenet": torchvision's ImageNet ResNet-50 weights (§5, from the torch hub cache or a
    # download); a path: such a state dict saved locally; "scratch": random initialisation.
    weights: str = "imagenet"


@dataclass(frozen=True)
class FPNConfig:
    """The feature pyramid on conv2..conv5 (§3.1)."""

    channels: int = 256  # FPN [33]
    extra_levels: int = 1  # §3.1 / §5: P6 (stride 64) for Cityscapes, P6 and P7 for Vistas


@dataclass(frozen=True)
class RPNConfig:
    """Region proposal head (§3.2, "RPH"), Mask R-CNN [19] settings where the paper is silent."""

    hidden_channels: int = 256  # §3.2: 3x3 conv with 256 channels + iABN
    conv_stride: int = 1  # seamseg stride 1 (§3.2's text says 2; the 0.514 TFLOP use 1)
    anchor_scale: float = 8.0  # anchor side = 8 x level stride (seamseg anchor_scale 8)
    anchor_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)  # Mask R-CNN; Vistas 0.2..5 (§5.3)
    positive_iou: float = 0.7  # Faster R-CNN [42] anchor matching
    negative_iou: float = 0.3
    samples_per_image: int = 256  # [42]: 256 anchors, at most half positive
    positive_fraction: float = 0.5
    crowd_overlap: float = 0.7  # seamseg void_threshold: anchors mostly on crowd are ignored
    nms_threshold: float = 0.7  # [19]
    pre_nms_train: int = 12000  # seamseg num_pre_nms_train (top-k over all levels)
    post_nms_train: int = 2000
    pre_nms_test: int = 6000
    post_nms_test: int = 1000  # seamseg cityscapes_r50.ini num_post_nms_val
    min_size: float = 0.0  # seamseg cityscapes min_size = 0: only empty boxes are dropped
    box_loss_beta: float = 1.0 / 9.0  # smooth-L1 with sigma 3 (seamseg rpn sigma), beta = 1/sigma^2


@dataclass(frozen=True)
class ROIConfig:
    """Region segmentation head (§3.2, "RSH")."""

    roi_size: int = 14  # §3.2: ROIAlign 14 x 14 (2x2 average-pooled to 7x7 for the box branch)
    canonical_scale: float = 224.0  # §3.2 level formula k = floor(3 + log2(sqrt(wh) / 224))
    sampling_ratio: int = 2  # ROIAlign sampling points per bin, as Mask R-CNN [19]
    fc_channels: int = 1024  # §3.2: two FC layers with 1024 channels
    mask_channels: int = 256  # §3.2: four 3x3 convs with 256 channels, 2x2 deconv 256
    mask_convs: int = 4
    norm: RoiNorm = "group_norm"  # §3.2: GN + leaky ReLU; "norm_act" = iABN as the authors' code
    group_norm_groups: int = 32  # Wu and He [52]
    samples_per_image: int = 512  # seamseg cityscapes num_samples (docs/paper.md §5)
    positive_fraction: float = 0.25  # [19]
    positive_iou: float = 0.5  # [19]: IoU >= 0.5 positive, < 0.5 negative
    crowd_overlap: float = 0.7  # seamseg void_threshold
    box_weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)  # seamseg
    box_loss_beta: float = 1.0  # smooth-L1 with sigma 1 (seamseg roi sigma)
    score_threshold: float = 0.05  # test: class probability > 0.05 [19]
    nms_threshold: float = 0.5  # test: per-class NMS (seamseg cityscapes nms_threshold 0.5)
    max_detections: int = 100  # test: 100 per image (Vistas 256)


@dataclass(frozen=True)
class SemanticConfig:
    """Semantic segmentation head (§3.3) and its loss (§3.4)."""

    head: SemanticHeadName = "mini_deeplab"  # §3.3; "fpn" = Panoptic-FPN head, the ablation
    channels: int = 128  # §3.3: every MiniDL conv has 128 output channels
    dilation: int = 6  # §3.3: second branch 3x3 conv with dilation 6
    pooling_size: int = 64  # §3.3: 64 x 64 average pooling, stride 1, no padding
    # Kernel of the MiniDL's last conv: §3.3's text says 3x3, the authors' code uses 1x1 and the
    # paper's 51.43 M parameters / 0.514 TFLOP were counted with it (docs/paper.md §3): 1.
    output_kernel: int = 1
    loss: SemanticLossName = "ohem"  # §3.4: OHEM log-loss; "cross_entropy" = plain, the ablation
    ohem_fraction: float = 0.25  # §3.4: keep the worst 25% of the pixels of each image


@dataclass(frozen=True)
class FusionConfig:
    """Panoptic fusion at test time (§3.5)."""

    score_threshold: float = 0.5  # seamseg score_threshold: instances with score > 0.5
    overlap_threshold: float = 0.5  # §3.5: keep an instance if >= 50% of it is still free
    min_stuff_area: int = 4096  # §3.5: stuff classes under 4096 pixels become void


@dataclass(frozen=True)
class ModelConfig:
    """The whole network: classes, norm layer and every component."""

    num_stuff: int = 11  # §5.1: Cityscapes has 11 stuff and 8 thing classes
    num_things: int = 8
    norm: NormName = "inplace_abn_sync"  # §3.1: synchronised iABN with leaky ReLU 0.01
    body: BodyConfig = field(default_factory=BodyConfig)
    fpn: FPNConfig = field(default_factory=FPNConfig)
    rpn: RPNConfig = field(default_factory=RPNConfig)
    roi: ROIConfig = field(default_factory=ROIConfig)
    semantic: SemanticConfig = field(default_factory=SemanticConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    # Switches for Table 1's "no freeze|decay BN" variant, which sets both to False. Read as
    # "no freezing of the BN parameters, no weight decay on them": the authors' code has exactly
    # these two switches (bn_frozen, weight_decay_norm; both "no" in its released Cityscapes
    # config) and keeps the stem + conv2 frozen either way.
    norm_frozen: bool = True  # norm layers' affine parameters are not trained (seamseg bn_frozen)
    weight_decay_norm: bool = True  # the trainer decays norm parameters too (seamseg default)

    @property
    def num_classes(self) -> int:
        """Stuff + things: the semantic head's outputs (docs/contracts.md §1)."""
        return self.num_stuff + self.num_things

    def __post_init__(self) -> None:
        _check_model(self)


def _check_model(cfg: ModelConfig) -> None:
    """Reject configurations that cannot build a working network, naming the field."""
    if cfg.num_stuff < 0 or cfg.num_things < 1:
        raise ValueError(
            f"need num_stuff >= 0 and num_things >= 1, got {cfg.num_stuff}, {cfg.num_things}"
        )
    if len(cfg.body.layers) != 4 or len(cfg.body.widths) != 4:
        raise ValueError("body.layers and body.widths need 4 entries (conv2..conv5)")
    if not 0 <= cfg.body.frozen_stages <= 5:
        raise ValueError(f"body.frozen_stages must be in 0..5, got {cfg.body.frozen_stages}")
    if cfg.fpn.extra_levels not in (0, 1, 2):
        raise ValueError(f"fpn.extra_levels must be 0, 1 or 2, got {cfg.fpn.extra_levels}")
    if cfg.semantic.output_kernel not in (1, 3):
        raise ValueError(f"semantic.output_kernel must be 1 or 3, got {cfg.semantic.output_kernel}")
    if not 0.0 < cfg.semantic.ohem_fraction <= 1.0:
        raise ValueError(
            f"semantic.ohem_fraction must be in (0, 1], got {cfg.semantic.ohem_fraction}"
        )
    if cfg.roi.roi_size % 2:
        raise ValueError(f"roi.roi_size must be even (2x2 pooling), got {cfg.roi.roi_size}")
    if cfg.roi.norm == "group_norm" and cfg.roi.fc_channels % cfg.roi.group_norm_groups:
        raise ValueError("roi.fc_channels must be a multiple of roi.group_norm_groups")
    if cfg.roi.norm == "group_norm" and cfg.roi.mask_channels % cfg.roi.group_norm_groups:
        raise ValueError("roi.mask_channels must be a multiple of roi.group_norm_groups")


# --- serialisation and overrides ---------------------------------------------------------

T = TypeVar("T", bound="DataclassInstance")


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass: nested configs become dicts, tuples lists."""
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"expected a config dataclass, got {type(cfg).__name__}")
    return {f.name: _json_value(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}


def _json_value(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot write {type(value).__name__} into a config: {value!r}")


def from_dict(cls: type[T], data: dict[str, Any], *, where: str = "") -> T:
    """Build `cls` from a dict as `to_dict` writes it; unknown keys and bad types are errors."""
    if not isinstance(data, dict):
        raise TypeError(f"config{where}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise KeyError(f"config{where}: unknown key(s) {unknown}; known: {sorted(names)}")
    kwargs = {k: _coerce(hints[k], v, f"{where}.{k}".lstrip(".")) for k, v in data.items()}
    return cls(**kwargs)


def with_overrides(cfg: T, overrides: dict[str, Any]) -> T:
    """A copy of `cfg` with dotted keys replaced, e.g. `{"semantic.loss": "cross_entropy"}`."""
    data = to_dict(cfg)
    for key, value in overrides.items():
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise KeyError(f"config override {key!r}: {part!r} is not a config section")
            node = node[part]
        if parts[-1] not in node:
            raise KeyError(
                f"config override {key!r}: unknown key {parts[-1]!r}; known: {sorted(node)}"
            )
        node[parts[-1]] = value
    return from_dict(type(cfg), data)


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """Command-line overrides `key=value` (dotted keys) as a dict for `with_overrides`; each
    value is read as JSON (`0.6`, `[1, 2]`, `true`, `null`), else taken as a string."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"an override must look like key=value, got {item!r}")
        try:
            out[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            out[key.strip()] = text
    return out


def _coerce(hint: Any, value: Any, key: str) -> Any:
    """Check `value` against the type hint (and convert lists to tuples); raise naming `key`."""
    origin = typing.get_origin(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where=f".{key}")
    if origin is Literal:
        if value not in typing.get_args(hint):
            raise ValueError(f"config {key}: {value!r} is not one of {typing.get_args(hint)}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise TypeError(f"config {key}: expected a list, got {type(value).__name__}")
        args = typing.get_args(hint)
        item = args[0]
        if len(args) != 2 or args[1] is not Ellipsis:
            if len(args) != len(value):
                raise ValueError(f"config {key}: expected {len(args)} values, got {len(value)}")
            return tuple(_coerce(a, v, key) for a, v in zip(args, value, strict=True))
        return tuple(_coerce(item, v, key) for v in value)
    if origin in (types.UnionType, typing.Union):
        present = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(present) != 1 or len(typing.get_args(hint)) != 2:
            raise TypeError(f"config {key}: only `X | None` unions are supported, got {hint!r}")
        return None if value is None else _coerce(present[0], value, key)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise TypeError(f"config {key}: expected {hint.__name__}, got {value!r}")
        return value
    raise TypeError(f"config {key}: unsupported type {hint!r}")
