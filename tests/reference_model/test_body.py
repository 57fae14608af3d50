"""The ResNet body and the FPN against torchvision: same weights layout, same function when the
norm + activation is BN + ReLU, frozen stages, the extra pyramid levels from C5."""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torchvision
from torch import nn

from reference_model.body import ResNetBody
from reference_model.fpn import FPN
from reference_model.modules.norm_act import ABN

pytestmark = pytest.mark.needs_torch

RESNET50 = {"block": "bottleneck", "layers": (3, 4, 6, 3), "widths": (64, 128, 256, 512)}


def test_resnet50_body_has_torchvisions_parameters_and_buffers() -> None:
    with torch.device("meta"):
        body = ResNetBody(**RESNET50, stem_width=64, norm_act=ABN)
        reference = torchvision.models.resnet50()
    ours = {k: tuple(v.shape) for k, v in body.state_dict().items()}
    theirs = {
        k: tuple(v.shape) for k, v in reference.state_dict().items() if not k.startswith("fc.")
    }
    assert ours == theirs
    # 25,557,032 parameters in torchvision's ResNet-50 less its 2048 x 1000 + 1000 classifier.
    assert sum(p.numel() for p in body.parameters()) == 25_557_032 - 2_049_000 == 23_508_032


def test_with_bn_relu_the_body_computes_torchvisions_resnet50() -> None:
    """Built with BN + ReLU (and ReLU after the additions), our blocks are torchvision's."""
    torch.manual_seed(0)
    reference = torchvision.models.resnet50().eval()
    for m in reference.modules():  # non-trivial statistics, so that a misplaced norm shows
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    bn_relu = partial(ABN, activation="relu")
    body = ResNetBody(**RESNET50, stem_width=64, norm_act=bn_relu, slope=0.0).eval()
    state = {k: v for k, v in reference.state_dict().items() if not k.startswith("fc.")}
    body.load_state_dict(state)
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        c2, c3, c4, c5 = body(x)
        r = reference.maxpool(reference.relu(reference.bn1(reference.conv1(x))))
        r2 = reference.layer1(r)
        r5 = reference.layer4(reference.layer3(reference.layer2(r2)))
    torch.testing.assert_close(c2, r2, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(c5, r5, rtol=1e-4, atol=1e-4)
    assert c3.shape == (1, 512, 12, 16)
    assert c4.shape == (1, 1024, 6, 8)


def test_frozen_stages_take_no_gradient_and_keep_their_statistics() -> None:
    body = ResNetBody(
        block="basic", layers=(1, 1, 1, 1), widths=(8, 8, 8, 8), stem_width=8, norm_act=ABN,
        frozen_stages=2,
    )  # fmt: skip
    body.train()
    assert not body.bn1.training
    assert not body.layer1.training
    assert body.layer2.training
    frozen = [p for m in (body.conv1, body.bn1, body.layer1) for p in m.parameters()]
    assert frozen
    assert not any(p.requires_grad for p in frozen)
    assert all(p.requires_grad for p in body.layer2.parameters())
    before = body.bn1.running_mean.clone()
    sum(f.sum() for f in body(torch.randn(2, 3, 64, 64))).backward()
    torch.testing.assert_close(body.bn1.running_mean, before)  # eval mode: statistics fixed
    assert body.layer1[0].conv1.weight.grad is None
    assert body.layer2[0].conv1.weight.grad is not None


@pytest.mark.parametrize("extra", [0, 1, 2])
def test_fpn_levels_channels_and_strides(extra: int) -> None:
    fpn = FPN([16, 32, 64, 128], channels=24, extra_levels=extra, norm_act=ABN)
    features = [
        torch.randn(1, c, 128 // s, 256 // s)
        for c, s in zip([16, 32, 64, 128], [4, 8, 16, 32], strict=True)
    ]
    out = fpn(features)
    assert fpn.strides == [4, 8, 16, 32, 64, 128][: 4 + extra]
    assert [tuple(o.shape) for o in out] == [(1, 24, 128 // s, 256 // s) for s in fpn.strides]


def test_p6_and_p7_come_from_c5_by_stride_2_convs() -> None:
    """§3.1: the extra levels are computed from the last body output, not from P5."""
    fpn = FPN([16, 32, 64, 128], channels=24, extra_levels=2, norm_act=ABN).eval()
    features = [torch.randn(1, c, 256 // s, 256 // s, requires_grad=True) for c, s in
                zip([16, 32, 64, 128], [4, 8, 16, 32], strict=True)]  # fmt: skip
    p6, p7 = fpn(features)[4:]
    grads = torch.autograd.grad(p7.sum() + p6.sum(), features, allow_unused=True)
    assert all(g is None for g in grads[:3])
    assert grads[3] is not None
    convs = [m for m in fpn.pyramid.extra_blocks.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.stride, c.kernel_size) for c in convs] == [
        (128, (2, 2), (3, 3)),
        (24, (2, 2), (3, 3)),
    ]


def test_fpn_of_resnet50_has_the_authors_parameter_count() -> None:
    """Lateral 1x1 (no bias) + output 3x3 (no bias) + P6 3x3 from C5, each with a 256-channel norm:
    (256+512+1024+2048)*256 + 4*9*256^2 + 9*2048*256 + 9*2*256 = 8,065,536
    (docs/paper.md §2: 8.066 M)."""
    with torch.device("meta"):
        fpn = FPN([256, 512, 1024, 2048], channels=256, extra_levels=1, norm_act=ABN)
    expected = 3840 * 256 + 4 * 9 * 256**2 + 9 * 2048 * 256 + 9 * 2 * 256
    assert sum(p.numel() for p in fpn.parameters()) == expected == 8_065_536
