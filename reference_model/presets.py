"""Named model presets: the paper's three datasets and a tiny CPU model for the synthetic data.

`preset("paper-cityscapes")` etc. return a `ModelConfig`; `PRESETS` lists the names.
"""

from __future__ import annotations

from collections.abc import Callable

from .config import (
    BodyConfig,
    FPNConfig,
    FusionConfig,
    ModelConfig,
    ROIConfig,
    RPNConfig,
    SemanticConfig,
)


def paper_cityscapes() -> ModelConfig:
    """§5.1: Cityscapes, 11 stuff + 8 things; every default of `ModelConfig` is this dataset."""
    return ModelConfig(num_stuff=11, num_things=8)


def paper_vistas() -> ModelConfig:
    """§5.3: Mapillary Vistas v1.2, 28 stuff + 37 things, P6 and P7, smaller flatter anchors."""
    return ModelConfig(
        num_stuff=28,
        num_things=37,
        fpn=FPNConfig(extra_levels=2),  # §3.1: x64 and x128 levels "depending on the dataset"
        rpn=RPNConfig(
            anchor_scale=2.0,  # §5.3: anchor area (2 x D)^2, D the level's stride
            anchor_ratios=(0.2, 0.5, 1.0, 2.0, 5.0),  # §5.3
        ),
        roi=ROIConfig(max_detections=256),  # seamseg vistas_r50.ini (docs/paper.md §5)
    )


def paper_idd() -> ModelConfig:
    """§5.2: Indian Driving Dataset, level-3 labels, 17 stuff + 9 things; Cityscapes settings."""
    return ModelConfig(num_stuff=17, num_things=9)


def tiny_synthetic() -> ModelConfig:
    """A small network for the synthetic dataset (Cityscapes classes) at ~192x384 on a CPU.

    The same architecture as the paper at a fraction of the width and depth: a ResNet-10-style
    body of basic blocks, a 64-channel FPN with P6, narrow heads; plain BN + leaky ReLU (`abn`,
    no process group on a CPU demo). Sizes that depend on the image size are scaled to it.
    """
    return ModelConfig(
        num_stuff=11,
        num_things=8,
        norm="abn",
        body=BodyConfig(
            block="basic",
            layers=(1, 1, 1, 1),
            widths=(16, 32, 64, 128),
            stem_width=16,
            frozen_stages=0,  # trained from scratch: nothing to freeze
            weights="scratch",  # no ImageNet weights exist for this body
        ),
        fpn=FPNConfig(channels=64, extra_levels=1),
        rpn=RPNConfig(
            hidden_channels=64,
            anchor_scale=4.0,  # 16 px anchors on P2: the synthetic things are 6..120 px tall
            pre_nms_train=1000,  # NMS is quadratic: the paper's 12000 would dominate a CPU step
            post_nms_train=300,
            pre_nms_test=1000,
            post_nms_test=200,
        ),
        roi=ROIConfig(
            fc_channels=256,
            mask_channels=64,
            mask_convs=2,
            group_norm_groups=16,
            samples_per_image=64,  # a few objects per image; ROIAlign backward is slow on a CPU
            sampling_ratio=1,  # the ROIs are small: one sample per bin
            canonical_scale=56.0,  # 224 at 1024 px height, scaled to 192 px: keeps P2..P5 in use
        ),
        semantic=SemanticConfig(channels=32, pooling_size=16),  # 64 at 1024 px, scaled to ~192
        # 4096 pixels at 1024x2048, scaled to 192x384: 4096 * (192 * 384) / (1024 * 2048) = 144
        fusion=FusionConfig(min_stuff_area=144),
        norm_frozen=False,  # from scratch the norm layers must learn
    )


PRESETS: dict[str, Callable[[], ModelConfig]] = {
    "paper-cityscapes": paper_cityscapes,
    "paper-vistas": paper_vistas,
    "paper-idd": paper_idd,
    "tiny-synthetic": tiny_synthetic,
}


def preset(name: str) -> ModelConfig:
    """The `ModelConfig` of a named preset; an unknown name is an error listing the known ones."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise KeyError(f"unknown model preset {name!r}; known: {sorted(PRESETS)}") from None
