"""Builders: norm selection by name, the ROI head's GroupNorm,
the norm freezing and the SGD parameter groups the trainer reads."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from reference_model.build import build_model, freeze_norms, parameter_groups
from reference_model.config import with_overrides
from reference_model.modules.factory import GroupNormAct, is_norm, norm_act_factory
from reference_model.modules.inplace_abn import InPlaceABN, InPlaceABNSync
from reference_model.modules.norm_act import ABN
from reference_model.presets import preset

pytestmark = pytest.mark.needs_torch


def test_norm_names_select_the_module() -> None:
    assert norm_act_factory("abn") is ABN
    assert norm_act_factory("inplace_abn") is InPlaceABN
    assert norm_act_factory("inplace_abn_sync") is InPlaceABNSync
    with pytest.raises(ValueError, match="norm must be one of"):
        norm_act_factory("batchnorm")


def test_group_norm_act_is_group_norm_then_leaky_relu() -> None:
    x = torch.randn(6, 32)
    out = GroupNormAct(8, 32)(x)
    torch.testing.assert_close(out, nn.functional.leaky_relu(nn.GroupNorm(8, 32)(x), 0.01))
    assert is_norm(GroupNormAct(8, 32))
    assert is_norm(ABN(4))
    assert is_norm(InPlaceABN(4))
    assert is_norm(InPlaceABNSync(4))
    assert not is_norm(nn.Conv2d(1, 1, 1))


@pytest.mark.parametrize(
    ("roi_norm", "norm_type"), [("group_norm", GroupNormAct), ("norm_act", ABN)]
)
def test_roi_head_norm_follows_the_config(roi_norm: str, norm_type: type) -> None:
    cfg = with_overrides(preset("tiny-synthetic"), {"roi.norm": roi_norm})
    model = build_model(form="combined", config=cfg)
    assert isinstance(model.roi_head.box_head.norm1, norm_type)  # type: ignore[union-attr]
    assert isinstance(model.roi_head.mask_head.convs[1], norm_type)  # type: ignore[union-attr, index]


def test_parameter_groups_put_norm_parameters_apart() -> None:
    model = build_model(form="combined", config=preset("tiny-synthetic"))
    groups = parameter_groups(model, weight_decay=1e-4, weight_decay_norm=False)
    n_norm = sum(
        p.numel() for m in model.modules() if is_norm(m) for p in m.parameters(recurse=False)
    )
    assert [g["weight_decay"] for g in groups] == [1e-4, 0.0]
    assert sum(p.numel() for p in groups[1]["params"]) == n_norm > 0
    everything = {id(p) for g in groups for p in g["params"]}
    assert everything == {id(p) for p in model.parameters() if p.requires_grad}
    decayed = parameter_groups(model, weight_decay=1e-4, weight_decay_norm=True)
    assert [g["weight_decay"] for g in decayed] == [1e-4, 1e-4]
    torch.optim.SGD(groups, lr=0.01, momentum=0.9)  # a valid optimiser definition


def test_frozen_norms_leave_nothing_of_theirs_to_train() -> None:
    model = build_model(form="combined", config=preset("tiny-synthetic"))
    freeze_norms(model)
    groups = parameter_groups(model, weight_decay=1e-4, weight_decay_norm=False)
    assert len(groups) == 1  # no trainable norm parameter left
    assert all(p.requires_grad for p in model.roi_head.box_head.fc1.parameters())  # type: ignore[union-attr]


def _norm_buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    return {
        k: v.clone()
        for k, v in model.state_dict().items()
        if k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    }


@pytest.mark.parametrize("form", ["combined", "independent"])
def test_frozen_norms_still_use_batch_statistics(form: str, make_batch: Callable) -> None:
    """norm_frozen, as seamseg's bn_frozen: the norm layers' scale and shift get no gradient and
    stay put, but in train() the layers normalise with batch statistics and update their
    running statistics, like unfrozen ones (frozen body stages aside: tiny-synthetic has none)."""
    images, targets = make_batch(2, 64, 128)
    frozen_cfg = with_overrides(preset("tiny-synthetic"), {"norm_frozen": True})
    for cfg, frozen in ((frozen_cfg, True), (preset("tiny-synthetic"), False)):
        torch.manual_seed(0)
        model = build_model(form=form, config=cfg).train()
        norms = [m for m in model.modules() if isinstance(m, ABN)]
        assert norms
        assert all(m.training for m in model.modules())
        before = _norm_buffers(model)
        sum(model(images, targets).values()).backward()
        after = _norm_buffers(model)
        assert not any(torch.equal(before[k], after[k]) for k in before)
        affine = [p for m in norms for p in m.parameters(recurse=False)]
        assert all((p.grad is None) is frozen for p in affine)
    model.eval()
    assert not any(m.training for m in model.modules())
