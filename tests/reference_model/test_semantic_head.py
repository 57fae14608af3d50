"""The semantic head (§3.3): MiniDL's pooling branch, its sizes, both heads; OHEM (§3.4)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from reference_model.config import SemanticConfig
from reference_model.losses import cross_entropy_loss, image_loss, ohem_loss, semantic_loss
from reference_model.modules.norm_act import ABN
from reference_model.semantic_head import (
    MiniDL,
    box_mean,
    pool_and_replicate,
    replicate_pad,
    semantic_head,
)

pytestmark = pytest.mark.needs_torch


@pytest.mark.parametrize(("kh", "kw"), [(1, 1), (3, 5), (16, 16), (20, 33)])
def test_running_sum_pooling_equals_avg_pool2d(kh: int, kw: int) -> None:
    x = torch.randn(2, 3, 20, 33, dtype=torch.float64, requires_grad=True)
    ours = box_mean(x, kh, kw)
    theirs = F.avg_pool2d(x, (kh, kw), stride=1)
    torch.testing.assert_close(ours, theirs.float().to(x.dtype), atol=1e-5, rtol=0)
    g = torch.randn_like(theirs)
    (ga,) = torch.autograd.grad((ours * g).sum(), x)
    (gb,) = torch.autograd.grad((theirs * g).sum(), x)
    torch.testing.assert_close(ga, gb, atol=1e-5, rtol=0)


def test_pooling_without_padding_then_replicating_the_border() -> None:
    """§3.3: a k x k pool with stride 1 and no padding shrinks the map by k - 1; replicate padding
    brings it back, (k - 1) // 2 rows before and the rest after."""
    x = torch.arange(2 * 1 * 10 * 12, dtype=torch.float32).reshape(2, 1, 10, 12)
    out = pool_and_replicate(x, 4)
    inner = F.avg_pool2d(x, 4, stride=1)  # (2, 1, 7, 9)
    assert out.shape == x.shape
    torch.testing.assert_close(out[:, :, 1:8, 1:10], inner)
    torch.testing.assert_close(out[:, :, 0, 1:10], inner[:, :, 0])  # the first row repeated once
    torch.testing.assert_close(out[:, :, 8, 1:10], inner[:, :, -1])  # the last one twice
    torch.testing.assert_close(out[:, :, 9, 1:10], inner[:, :, -1])


def test_a_kernel_larger_than_the_map_is_global_pooling() -> None:
    """§3.3: with the kernel as large as the input, the branch is DeepLabV3's global pooling."""
    x = torch.randn(2, 4, 6, 9)
    out = pool_and_replicate(x, 64)
    torch.testing.assert_close(out, x.mean(dim=(2, 3), keepdim=True).expand_as(x))


def test_minidl_sizes_with_1x1_and_3x3_output_convs() -> None:
    """Branches 2 * 9*256*128 + 256*128, norm 2*384, output (k*k)*384*128, norm 2*128: 672,768 for
    k = 1 (docs/paper.md §2: 4 levels + the 512 -> 19 classifier = 2.701 M); k = 3 adds
    8*384*128."""
    one = MiniDL(256, 128, dilation=6, pooling_size=64, output_kernel=1, norm_act=ABN)
    three = MiniDL(256, 128, dilation=6, pooling_size=64, output_kernel=3, norm_act=ABN)
    n1 = sum(p.numel() for p in one.parameters())
    n3 = sum(p.numel() for p in three.parameters())
    assert n1 == 2 * 9 * 256 * 128 + 256 * 128 + 2 * 384 + 384 * 128 + 2 * 128 == 672_768
    assert n3 - n1 == 8 * 384 * 128
    head = semantic_head(256, 19, SemanticConfig(), ABN)
    assert sum(p.numel() for p in head.parameters()) == 4 * 672_768 + 512 * 19 + 19 == 2_700_819
    assert three(torch.randn(1, 256, 16, 16)).shape == (1, 128, 16, 16)


@pytest.mark.parametrize("kind", ["mini_deeplab", "fpn"])
def test_both_heads_give_stride_4_logits(kind: str) -> None:
    head = semantic_head(16, 5, SemanticConfig(head=kind, channels=8, pooling_size=8), ABN)  # type: ignore[arg-type]
    features = [torch.randn(2, 16, 64 // s, 128 // s) for s in (1, 2, 4, 8, 16)]
    assert head(features).shape == (2, 5, 64, 128)


def _per_pixel(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits[None], target[None], ignore_index=255, reduction="none").flatten()


def test_ohem_keeps_the_worst_quarter_of_each_images_pixels() -> None:
    """§3.4: weights 4 / (W H) on the 25% of pixels with the lowest probability of their class,
    0 elsewhere: the mean over those pixels; each image weighs the same."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 8, 10, generator=g)
    targets = [torch.randint(0, 5, (8, 10), generator=g), torch.randint(0, 5, (6, 7), generator=g)]
    targets[0][0, :4] = 255  # ignored pixels count with a loss of 0
    loss = semantic_loss(logits, targets, image_loss(SemanticConfig(loss="ohem")))
    expected = []
    for lg, t in zip(logits, targets, strict=True):
        per_pixel = _per_pixel(lg[:, : t.shape[0], : t.shape[1]], t)
        k = math.ceil(0.25 * t.numel())  # 20 of 80 pixels, 11 of 42
        expected.append(per_pixel.sort(descending=True).values[:k].mean())
    torch.testing.assert_close(loss, torch.stack(expected).mean())


def test_plain_cross_entropy_option_and_ohem_of_everything() -> None:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(1, 4, 6, 6, generator=g)
    target = torch.randint(0, 4, (6, 6), generator=g)
    target[0] = 255
    ce = semantic_loss(logits, [target], image_loss(SemanticConfig(loss="cross_entropy")))
    torch.testing.assert_close(ce, F.cross_entropy(logits, target[None], ignore_index=255))
    everything = semantic_loss(logits, [target], image_loss(SemanticConfig(ohem_fraction=1.0)))
    torch.testing.assert_close(everything, _per_pixel(logits[0], target).sum() / 36)
    with pytest.raises(ValueError, match="semantic loss must be"):
        image_loss(SemanticConfig(loss="focal"))  # type: ignore[arg-type]


def test_the_chosen_losses_give_the_per_image_loop_of_before_bit_for_bit() -> None:
    """The loss is chosen once; each image's value and gradient are the very operations of the
    per-image branch it replaced: crop, cross-entropy, top ceil(25%) (OHEM) or mean (CE)."""
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(2, 5, 16, 24, generator=g, requires_grad=True)
    targets = [
        torch.randint(0, 5, (16, 24), generator=g),
        torch.randint(0, 5, (9, 13), generator=g),
    ]
    targets[1][:3] = 255
    for chosen, kind in ((image_loss(SemanticConfig()), "ohem"), (cross_entropy_loss, "ce")):
        ours = semantic_loss(logits, targets, chosen)
        (grad,) = torch.autograd.grad(ours, logits)
        expected = []
        for lg, t in zip(logits, targets, strict=True):
            crop = lg[:, : t.shape[0], : t.shape[1]].unsqueeze(0)
            if kind == "ce":
                expected.append(F.cross_entropy(crop, t[None], ignore_index=255))
                continue
            per_pixel = F.cross_entropy(crop, t[None], ignore_index=255, reduction="none")
            k = math.ceil(per_pixel.numel() * 0.25)
            expected.append(per_pixel.flatten().topk(k, sorted=False).values.mean())
        reference = torch.stack(expected).mean()
        assert torch.equal(ours, reference)
        assert torch.equal(grad, torch.autograd.grad(reference, logits)[0])
    assert ohem_loss(logits[:1], targets[0][None], fraction=0.25).shape == ()


@pytest.mark.parametrize(
    "pad", [(0, 1, 0, 1), (3, 4, 2, 2), (0, 0, 5, 6), (7, 7, 0, 0), (0, 0, 0, 0)]
)
def test_replicate_pad_equals_torchs_replication_padding(pad: tuple[int, int, int, int]) -> None:
    """The same values as `F.pad(mode="replicate")`, and the same gradient (up to the order
    in which the edge's gradients are summed)."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    ours = replicate_pad(x, *pad)
    theirs = F.pad(x, pad, mode="replicate")
    assert torch.equal(ours, theirs)
    weight = torch.randn_like(ours)
    (grad_ours,) = torch.autograd.grad((ours * weight).sum(), x)
    (grad_theirs,) = torch.autograd.grad((theirs * weight).sum(), x)
    torch.testing.assert_close(grad_ours, grad_theirs, rtol=1e-12, atol=1e-12)
