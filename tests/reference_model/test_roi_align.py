"""The CPU ROIAlign (`reference_model.roi_align`, one weighted gather over all levels) against
`torchvision.ops.roi_align` run level by level: forward and gradients, every sampling mode,
ROIs partly or wholly outside the map; gradcheck in float64; and `pool_rois` on the CPU
against the torchvision path it replaces."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F
from torchvision.ops import roi_align as tv_roi_align

from reference_model.roi_align import roi_align
from reference_model.roi_head import ROI_LEVELS, pool_rois, roi_levels

pytestmark = pytest.mark.needs_torch

STRIDES = [4, 8, 16, 32]


def _case(
    seed: int, n: int = 40, dtype: torch.dtype = torch.float32
) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """Features of two 64 x 128 images on 4 levels, ROIs (some past the borders), levels."""
    g = torch.Generator().manual_seed(seed)
    features = [
        torch.randn(2, 5, 64 // s, 128 // s, generator=g, dtype=dtype).requires_grad_()
        for s in STRIDES
    ]
    xy = torch.rand(n, 2, generator=g) * torch.tensor([150.0, 80.0]) - 15  # some outside
    wh = torch.rand(n, 2, generator=g) * 60 + 0.5
    image = torch.randint(0, 2, (n, 1), generator=g).float()
    rois = torch.cat([image, xy, xy + wh], dim=1).to(dtype)
    levels = torch.randint(0, len(STRIDES), (n,), generator=g)
    return features, rois, levels


def _torchvision(
    features: list[torch.Tensor],
    rois: torch.Tensor,
    levels: torch.Tensor,
    size: int,
    ratio: int,
    aligned: bool,
) -> torch.Tensor:
    out = features[0].new_zeros(rois.shape[0], features[0].shape[1], size, size)
    for level, (f, stride) in enumerate(zip(features, STRIDES, strict=True)):
        chosen = torch.nonzero(levels == level).flatten()
        out = out.index_copy(
            0, chosen, tv_roi_align(f, rois[chosen], size, 1 / stride, ratio, aligned)
        )
    return out


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("ratio", [1, 2, 0])
def test_forward_and_gradients_match_torchvision(ratio: int, aligned: bool) -> None:
    features, rois, levels = _case(ratio + 3 * aligned)
    scales = [1 / s for s in STRIDES]
    ours = roi_align(features, rois, levels, scales, 7, ratio, aligned=aligned)
    theirs = _torchvision(features, rois, levels, 7, ratio, aligned)
    assert ours.shape == theirs.shape == (40, 5, 7, 7)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    grad = torch.randn_like(ours)
    g_ours = torch.autograd.grad(ours, features, grad)
    g_theirs = torch.autograd.grad(theirs, features, grad)
    for a, b in zip(g_ours, g_theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)  # sums in another order


@pytest.mark.parametrize("pool", [2, 7])
@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("ratio", [1, 2, 0])
def test_pooled_output_is_the_average_of_its_blocks(ratio: int, aligned: bool, pool: int) -> None:
    """`pool=p`: F.avg_pool2d of the full output over p x p blocks (the box branch's 14 -> 7),
    in values and gradients, for a fixed and the adaptive sampling grid."""
    features, rois, levels = _case(10 + ratio + 3 * aligned)
    scales = [1 / s for s in STRIDES]
    pooled = roi_align(features, rois, levels, scales, 14, ratio, aligned=aligned, pool=pool)
    full = roi_align(features, rois, levels, scales, 14, ratio, aligned=aligned)
    expected = F.avg_pool2d(full, pool)
    assert pooled.shape == expected.shape == (40, 5, 14 // pool, 14 // pool)
    # The sample points are the same up to rounding: computed from roi / 7 instead of roi / 14,
    # they move by an ulp, ~4e-6 at 37 pixels in float32, and values of N(0, 1) features by
    # as much.
    torch.testing.assert_close(pooled, expected, rtol=0, atol=1e-5)
    theirs = F.avg_pool2d(_torchvision(features, rois, levels, 14, ratio, aligned), pool)
    torch.testing.assert_close(pooled, theirs, rtol=0, atol=1e-5)
    grad = torch.randn_like(pooled)
    for a, b in zip(
        torch.autograd.grad(pooled, features, grad),
        torch.autograd.grad(expected, features, grad),
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_pool_must_divide_the_output_size() -> None:
    features, rois, levels = _case(0)
    scales = [1 / s for s in STRIDES]
    with pytest.raises(ValueError, match="pool must divide the output size 14, got 4"):
        roi_align(features, rois, levels, scales, 14, 1, pool=4)
    assert roi_align(features, rois[:0], levels[:0], scales, 14, 1, pool=2).shape == (0, 5, 7, 7)


def test_gradcheck_in_float64() -> None:
    g = torch.Generator().manual_seed(7)
    small = tuple(
        torch.randn(1, 2, n, n, generator=g, dtype=torch.float64).requires_grad_() for n in (8, 4)
    )
    rois = torch.tensor(
        [[0, 1.0, 2.0, 20.0, 9.0], [0, -3.0, 5.0, 12.0, 40.0], [0, 4.0, 4.0, 30.0, 30.0]],
        dtype=torch.float64,
    )
    levels = torch.tensor([0, 1, 1])

    def fn(*fs: torch.Tensor) -> torch.Tensor:
        return roi_align(list(fs), rois, levels, [1 / 4, 1 / 8], 3, 2)

    assert torch.autograd.gradcheck(fn, small, eps=1e-6, atol=1e-6)


def test_no_rois_gives_an_empty_result() -> None:
    features, rois, levels = _case(0)
    out = roi_align(features, rois[:0], levels[:0], [1 / s for s in STRIDES], 7, 1)
    assert out.shape == (0, 5, 7, 7)


def test_bfloat16_input_is_pooled_in_float32_and_returned_in_bfloat16() -> None:
    features, rois, levels = _case(1)
    low = [f.detach().bfloat16() for f in features]
    out = roi_align(low, rois, levels, [1 / s for s in STRIDES], 7, 1)
    assert out.dtype == torch.bfloat16
    expected = _torchvision([f.float() for f in low], rois, levels, 7, 1, True)
    torch.testing.assert_close(out.float(), expected, rtol=1e-2, atol=1e-2)  # bf16 rounding


def test_pool_rois_on_the_cpu_is_the_torchvision_path() -> None:
    features, _, _ = _case(2)
    g = torch.Generator().manual_seed(5)
    boxes = []
    for n in (9, 0, 14):  # an image without ROIs in the middle
        xy = torch.rand(n, 2, generator=g) * 100
        boxes.append(torch.cat([xy, xy + torch.rand(n, 2, generator=g) * 60 + 1], dim=1))
    features = [torch.cat([f, f[:1]]) for f in features]  # three images
    ours = pool_rois(features, boxes, STRIDES, size=14, canonical_scale=56.0, sampling_ratio=1)
    rois = torch.cat([torch.cat([torch.full_like(b[:, :1], i), b], 1) for i, b in enumerate(boxes)])
    levels = roi_levels(rois[:, 1:], 56.0)
    assert set(levels.tolist()) > {0}  # more than one level in use
    theirs = _torchvision(features[:ROI_LEVELS], rois, levels, 14, 1, True)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    box_input = pool_rois(
        features, boxes, STRIDES, size=14, canonical_scale=56.0, sampling_ratio=1, pool=2
    )
    torch.testing.assert_close(box_input, F.avg_pool2d(theirs, 2), rtol=0, atol=1e-5)


def test_training_losses_match_the_torchvision_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three seeded SGD steps of the tiny combined model: the losses with the CPU ROIAlign are
    those with torchvision's, to float rounding (the sums run in another order)."""
    from reference_model import roi_head
    from tests.reference_model.conftest import seeded_training_losses

    def torchvision_path(
        features: list[torch.Tensor],
        rois: torch.Tensor,
        levels: torch.Tensor,
        scales: list[float],
        size: int,
        ratio: int,
        *,
        aligned: bool,
        pool: int = 1,
    ) -> torch.Tensor:
        out = features[0].new_zeros(rois.shape[0], features[0].shape[1], size, size)
        for level, (f, scale) in enumerate(zip(features, scales, strict=True)):
            chosen = torch.nonzero(levels == level).flatten()
            pooled = tv_roi_align(f, rois[chosen], size, scale, ratio, aligned)
            out = out.index_copy(0, chosen, pooled)
        return F.avg_pool2d(out, pool) if pool > 1 else out

    ours = seeded_training_losses(3)
    monkeypatch.setattr(roi_head, "gather_roi_align", torchvision_path)
    theirs = seeded_training_losses(3)
    # The first step's forward is the same computation up to float32 rounding; the backward
    # sums the same gradients in another order, so later steps drift by rounding that the
    # proposal selection can amplify (seen: 3e-6 to 5e-4 relative after two steps, depending
    # on the thread count); a wrong weight or index would be off by far more.
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a.keys() == b.keys()
        rel = 1e-5 if step == 0 else 3e-3
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=rel, abs=1e-6), (step, key)
