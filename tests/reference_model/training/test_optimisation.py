"""The optimiser and the learning-rate schedule (§5), against torch's own schedulers."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.optim.lr_scheduler import ChainedScheduler, LinearLR, MultiStepLR

from reference_model.modules.norm_act import ABN
from reference_model.training import TrainingConfig, WarmupMultiStepLR, lr_factor, make_optimizer

pytestmark = pytest.mark.needs_torch


def test_paper_schedule_values() -> None:
    """§5: lr/3 -> lr linearly over 200 iterations, x0.1 after 36k and after 44k."""
    c = TrainingConfig()
    kw = {
        "milestones": c.milestones,
        "gamma": c.gamma,
        "warmup_iterations": c.warmup_iterations,
        "warmup_factor": c.warmup_factor,
    }
    assert lr_factor(0, **kw) == pytest.approx(1 / 3)
    assert lr_factor(100, **kw) == pytest.approx(1 / 3 + (2 / 3) * 0.5)
    assert lr_factor(200, **kw) == 1.0
    assert lr_factor(35_999, **kw) == 1.0
    assert lr_factor(36_000, **kw) == pytest.approx(0.1)
    assert lr_factor(44_000, **kw) == pytest.approx(0.01)
    assert lr_factor(47_999, **kw) == pytest.approx(0.01)


def test_scheduler_matches_torch_linear_warmup_chained_with_multistep() -> None:
    def optimizer() -> torch.optim.SGD:
        return torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.01)

    ours_opt, ref_opt = optimizer(), optimizer()
    ours = WarmupMultiStepLR(ours_opt, milestones=(30, 45), warmup_iterations=20)
    reference = ChainedScheduler(
        [
            LinearLR(ref_opt, start_factor=1 / 3, total_iters=20),
            MultiStepLR(ref_opt, milestones=[30, 45], gamma=0.1),
        ]
    )
    for _ in range(60):
        assert ours_opt.param_groups[0]["lr"] == pytest.approx(ref_opt.param_groups[0]["lr"])
        ours_opt.step()
        ref_opt.step()
        ours.step()
        reference.step()


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.abn = ABN(4)
        self.gn = nn.GroupNorm(2, 4)
        self.frozen = nn.Conv2d(4, 4, 1)
        self.frozen.requires_grad_(False)
        self.shared = self.conv  # the same parameters twice: counted once


def test_the_optimiser_takes_the_models_parameter_groups() -> None:
    """Norm layers (BN, ABN, GroupNorm) apart, frozen parameters left out, shared ones once."""
    net = _Net()
    decay = make_optimizer(net, TrainingConfig(), weight_decay_norm=True)
    assert [g["weight_decay"] for g in decay.param_groups] == [1e-4, 1e-4]
    no_decay = make_optimizer(net, TrainingConfig(nesterov=True), weight_decay_norm=False)
    groups = {g["name"]: g for g in no_decay.param_groups}
    norm = {id(p) for m in (net.bn, net.abn, net.gn) for p in m.parameters()}
    assert {id(p) for p in groups["norm"]["params"]} == norm
    assert {id(p) for p in groups["decay"]["params"]} == {id(net.conv.weight), id(net.conv.bias)}
    assert groups["decay"]["weight_decay"] == 1e-4
    assert groups["norm"]["weight_decay"] == 0.0
    assert groups["norm"]["nesterov"] is True
    assert groups["norm"]["momentum"] == 0.9
    with pytest.raises(ValueError, match="no trainable parameters"):
        make_optimizer(
            nn.Conv2d(1, 1, 1).requires_grad_(False), TrainingConfig(), weight_decay_norm=True
        )


def test_weight_decay_on_norm_changes_the_update_accordingly() -> None:
    """With zero gradients, one SGD step moves a parameter by -lr * wd * p only where decay
    applies (torch.optim.SGD's rule: g += wd * p)."""
    for decay_norm in (True, False):
        net = _Net()
        with torch.no_grad():
            net.bn.weight.fill_(2.0)
        optimizer = make_optimizer(net, TrainingConfig(lr=0.5), weight_decay_norm=decay_norm)
        for p in net.parameters():
            p.grad = torch.zeros_like(p)
        optimizer.step()
        expected = 2.0 - 0.5 * 1e-4 * 2.0 if decay_norm else 2.0
        assert net.bn.weight.detach().tolist() == pytest.approx([expected] * 4, abs=1e-6)  # float32


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="milestones must be increasing"):
        TrainingConfig(milestones=(5, 3))
    with pytest.raises(ValueError, match="iterations must be > 0"):
        TrainingConfig(iterations=0)
    with pytest.raises(ValueError, match="clip_grad_norm"):
        TrainingConfig(clip_grad_norm=-1.0)
    scaled = TrainingConfig().scaled(0.25)
    assert (scaled.iterations, scaled.milestones, scaled.warmup_iterations) == (
        12_000,
        (9_000, 11_000),
        50,
    )


def test_the_linear_scaling_rule_keeps_the_images_seen() -> None:
    """Goyal et al. (2017): batch 8 -> 2 divides the lr by 4 and multiplies every iteration
    count by 4 (the paper's 48k, 36k, 44k and 200 warm-up; 2000 between checkpoints)."""
    paper = TrainingConfig()
    two = paper.with_batch_size(2)
    assert (two.batch_size, two.lr) == (2, pytest.approx(0.0025))
    assert (two.iterations, two.milestones, two.warmup_iterations) == (
        192_000,
        (144_000, 176_000),
        800,
    )
    assert two.checkpoint_every == 8_000
    assert two.iterations * two.batch_size == paper.iterations * paper.batch_size
    assert paper.with_batch_size(8) == paper
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        paper.with_batch_size(0)
