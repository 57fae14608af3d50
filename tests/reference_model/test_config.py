"""Model configuration: presets, JSON round trip, checked overrides, rejected configurations."""

from __future__ import annotations

import json

import pytest

from reference_model.config import ModelConfig, RPNConfig, from_dict, to_dict, with_overrides
from reference_model.presets import PRESETS, preset

pytestmark = pytest.mark.needs_torch


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_round_trips_through_json(name: str) -> None:
    cfg = preset(name)
    again = from_dict(ModelConfig, json.loads(json.dumps(to_dict(cfg))))
    assert again == cfg


def test_paper_presets_carry_the_papers_numbers() -> None:
    city, vistas, idd = preset("paper-cityscapes"), preset("paper-vistas"), preset("paper-idd")
    # §5.1: 11 stuff + 8 things; §5.2: 17 + 9; Vistas v1.2: 28 + 37 (65 classes).
    assert (city.num_stuff, city.num_things) == (11, 8)
    assert (idd.num_stuff, idd.num_things) == (17, 9)
    assert (vistas.num_stuff, vistas.num_things) == (28, 37)
    # §3.1 / §5.3: P6 for Cityscapes, P6 and P7 for Vistas; Vistas anchors 2 x stride, 5 ratios.
    assert city.fpn.extra_levels == 1
    assert vistas.fpn.extra_levels == 2
    assert vistas.rpn.anchor_ratios == (0.2, 0.5, 1.0, 2.0, 5.0)
    assert vistas.rpn.anchor_scale == 2.0
    # docs/paper.md §5: 12000/2000 proposals in training, 6000/1000 at test, 512 ROIs, 100 dets.
    rpn, roi = city.rpn, city.roi
    assert (rpn.pre_nms_train, rpn.post_nms_train, rpn.pre_nms_test, rpn.post_nms_test) == (
        12000,
        2000,
        6000,
        1000,
    )
    assert (roi.samples_per_image, roi.max_detections, vistas.roi.max_detections) == (512, 100, 256)
    assert city.norm == "inplace_abn_sync"
    assert city.semantic.output_kernel == 1
    assert city.fusion.min_stuff_area == 4096
    assert city.semantic.pooling_size == 64


def test_overrides_are_checked_by_name_and_type() -> None:
    cfg = with_overrides(preset("paper-cityscapes"), {"semantic.loss": "cross_entropy"})
    assert cfg.semantic.loss == "cross_entropy"
    assert with_overrides(cfg, {"rpn.nms_threshold": 1}).rpn.nms_threshold == 1.0  # int -> float
    with pytest.raises(KeyError, match="unknown key 'nms'"):
        with_overrides(cfg, {"rpn.nms": 0.5})
    with pytest.raises(KeyError, match="not a config section"):
        with_overrides(cfg, {"norm.x": 1})
    with pytest.raises(ValueError, match=r"semantic\.loss"):
        with_overrides(cfg, {"semantic.loss": "focal"})
    with pytest.raises(TypeError, match=r"rpn\.post_nms_test"):
        with_overrides(cfg, {"rpn.post_nms_test": "many"})
    with pytest.raises(ValueError, match=r"roi.box_weights: expected 4 values"):
        with_overrides(cfg, {"roi.box_weights": [1.0, 2.0]})


def test_unknown_keys_in_a_config_file_are_an_error() -> None:
    data = to_dict(preset("tiny-synthetic"))
    data["rpn"]["anchor_size"] = 3
    with pytest.raises(KeyError, match=r"config\.rpn: unknown key\(s\) \['anchor_size'\]"):
        from_dict(ModelConfig, data)


def test_impossible_configurations_are_rejected() -> None:
    with pytest.raises(ValueError, match="output_kernel"):
        with_overrides(preset("paper-cityscapes"), {"semantic.output_kernel": 5})
    with pytest.raises(ValueError, match="num_things"):
        ModelConfig(num_things=0)
    with pytest.raises(ValueError, match="group_norm_groups"):
        with_overrides(preset("paper-cityscapes"), {"roi.group_norm_groups": 7})
    with pytest.raises(KeyError, match="unknown model preset 'cityscapes'"):
        preset("cityscapes")
    assert RPNConfig().conv_stride == 1
