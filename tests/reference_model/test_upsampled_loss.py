"""The one-pass CPU semantic loss (`reference_model.upsampled_loss`) against the PyTorch ops it
replaces: `F.interpolate` to the padded input, then `losses.semantic_loss` (OHEM or plain
cross-entropy per image, the batch mean), computed in float64 as the reference. Loss and
gradients agree to float32 rounding, with crops smaller than the padded input, ignored pixels,
images with no labelled pixel, and sizes that are not a multiple of the logits'."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from reference_model.config import SemanticConfig
from reference_model.losses import image_loss, semantic_loss
from reference_model.upsampled_loss import (
    ops_semantic_loss,
    source_index,
    upsampled_semantic_loss,
)

pytestmark = pytest.mark.needs_torch

CLASSES = 7


def _case(
    seed: int, logits_size: tuple[int, int], size: tuple[int, int], crops: list[tuple[int, int]]
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(len(crops), CLASSES, *logits_size, generator=g) * 3
    targets = []
    for h, w in crops:
        assert h <= size[0]
        assert w <= size[1]
        t = torch.randint(0, CLASSES, (h, w), generator=g)
        t[torch.rand(h, w, generator=g) < 0.2] = 255  # scattered ignored pixels
        t[: h // 5] = 255  # and an ignored band
        targets.append(t)
    return logits, targets


def _reference(
    logits: torch.Tensor, size: tuple[int, int], targets: list[torch.Tensor], cfg: SemanticConfig
) -> tuple[float, torch.Tensor]:
    x = logits.double().requires_grad_()
    full = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    loss = semantic_loss(full, targets, image_loss(cfg))
    (grad,) = torch.autograd.grad(loss, x)
    return float(loss.detach()), grad


def _ours(
    logits: torch.Tensor, size: tuple[int, int], targets: list[torch.Tensor], cfg: SemanticConfig
) -> tuple[float, torch.Tensor]:
    x = logits.clone().requires_grad_()
    loss = upsampled_semantic_loss(x, size, targets, cfg)
    assert loss.dtype == torch.float32
    assert loss.shape == ()
    (grad,) = torch.autograd.grad(loss, x)
    assert grad.dtype == logits.dtype
    assert grad.shape == logits.shape
    return float(loss.detach()), grad


CASES = [
    # logits, padded input, per-image crops
    ((12, 24), (48, 96), [(48, 96), (40, 72)]),  # the model's stride 4, a smaller second image
    ((7, 13), (30, 50), [(30, 50)]),  # not a multiple: scales 30/7 and 50/13
    ((5, 9), (5, 9), [(5, 9), (3, 9), (5, 2)]),  # no upsampling at all
    ((16, 8), (33, 47), [(33, 47), (1, 1), (20, 47)]),  # a one-pixel image
]


@pytest.mark.parametrize("loss", ["ohem", "cross_entropy"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_loss_and_gradients_match_the_pytorch_ops(case: int, loss: str) -> None:
    logits_size, size, crops = CASES[case]
    logits, targets = _case(case, logits_size, size, crops)
    cfg = SemanticConfig(loss=loss)  # type: ignore[arg-type]
    expected, expected_grad = _reference(logits, size, targets, cfg)
    value, grad = _ours(logits, size, targets, cfg)
    assert value == pytest.approx(expected, rel=2e-6)
    scale = float(expected_grad.abs().max())
    torch.testing.assert_close(grad.double(), expected_grad, rtol=0, atol=1e-5 * scale)
    # the PyTorch-ops path (off the CPU; the benchmarks' comparison) is the reference itself
    ops = ops_semantic_loss(logits.double(), size, targets, cfg)
    assert ops.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("fraction", [1e-4, 0.25, 0.6, 1.0])
def test_every_ohem_fraction(fraction: float) -> None:
    """Fraction 1: every pixel, ignored ones as zeros; a tiny one: a single pixel per image."""
    logits, targets = _case(9, (12, 24), (48, 96), [(48, 96), (44, 90)])
    cfg = SemanticConfig(loss="ohem", ohem_fraction=fraction)
    expected, expected_grad = _reference(logits, (48, 96), targets, cfg)
    value, grad = _ours(logits, (48, 96), targets, cfg)
    assert value == pytest.approx(expected, rel=2e-6)
    scale = float(expected_grad.abs().max())
    torch.testing.assert_close(grad.double(), expected_grad, rtol=0, atol=1e-5 * scale)


@pytest.mark.parametrize("loss", ["ohem", "cross_entropy"])
def test_an_image_without_labelled_pixels_adds_zero_and_no_gradient(loss: str) -> None:
    logits, targets = _case(3, (12, 24), (48, 96), [(48, 96), (48, 96)])
    targets[1].fill_(255)
    cfg = SemanticConfig(loss=loss)  # type: ignore[arg-type]
    value, grad = _ours(logits, (48, 96), targets, cfg)
    alone, _ = _ours(logits[:1], (48, 96), targets[:1], cfg)
    assert value == pytest.approx(alone / 2, rel=1e-6)  # the batch mean over both images
    assert torch.count_nonzero(grad[1]) == 0
    assert torch.count_nonzero(grad[0]) > 0


def test_bfloat16_logits_get_a_bfloat16_gradient_of_the_same_loss() -> None:
    logits, targets = _case(4, (12, 24), (48, 96), [(48, 96), (40, 80)])
    low = logits.bfloat16()
    cfg = SemanticConfig()
    value, grad = _ours(low, (48, 96), targets, cfg)
    expected, expected_grad = _reference(low.float(), (48, 96), targets, cfg)
    assert value == pytest.approx(expected, rel=2e-6)  # the kernels compute in float32
    assert grad.dtype == torch.bfloat16
    scale = float(expected_grad.abs().max())
    torch.testing.assert_close(grad.double(), expected_grad, rtol=0, atol=1e-2 * scale)


def test_a_class_index_out_of_range_names_the_pixel() -> None:
    logits, targets = _case(5, (12, 24), (48, 96), [(48, 96), (40, 80)])
    targets[1][7, 11] = CLASSES
    with pytest.raises(IndexError, match=r"semantic target 7 at image 1, pixel \(7, 11\)"):
        upsampled_semantic_loss(logits, (48, 96), targets, SemanticConfig())
    targets[1][7, 11] = -3
    with pytest.raises(IndexError, match="semantic target -3 at image 1"):
        upsampled_semantic_loss(logits, (48, 96), targets, SemanticConfig())


@pytest.mark.parametrize(("out_size", "in_size"), [(96, 24), (50, 13), (9, 9), (1, 4), (33, 16)])
def test_source_index_is_pytorchs_upsampling(out_size: int, in_size: int) -> None:
    """F.interpolate applied to unit vectors gives the weights, bit for bit."""
    low, high, frac = source_index(out_size, in_size)
    matrix = np.zeros((out_size, in_size), dtype=np.float32)
    rows = np.arange(out_size)
    np.add.at(matrix, (rows, low), np.float32(1.0) - frac)
    np.add.at(matrix, (rows, high), frac)
    eye = torch.eye(in_size)[:, None, None, :]  # (in, 1, 1, in): one unit vector per batch row
    expected = F.interpolate(eye, size=(1, out_size), mode="bilinear", align_corners=False)
    np.testing.assert_array_equal(matrix, expected[:, 0, 0, :].numpy().T)


def test_the_model_trains_on_the_same_semantic_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two seeded steps of the tiny combined model: the semantic loss by the kernels is the one
    the PyTorch ops give (`ops_semantic_loss`, swapped in for the model's `SEMANTIC_LOSS`)."""
    from reference_model import model as model_module
    from tests.reference_model.conftest import seeded_training_losses

    ours = [step["semantic"] for step in seeded_training_losses(2)]
    monkeypatch.setattr(model_module, "SEMANTIC_LOSS", ops_semantic_loss)
    theirs = [step["semantic"] for step in seeded_training_losses(2)]
    assert ours == pytest.approx(theirs, rel=1e-5)


def test_targets_that_do_not_fit_the_batch_are_refused() -> None:
    logits, targets = _case(6, (12, 24), (48, 96), [(48, 96), (40, 80)])
    cfg = SemanticConfig()
    with pytest.raises(ValueError, match="1 semantic targets for a batch of 2 logits"):
        upsampled_semantic_loss(logits, (48, 96), targets[:1], cfg)
    with pytest.raises(ValueError, match=r"semantic target 1 has shape \(50, 80\)"):
        upsampled_semantic_loss(logits, (48, 96), [targets[0], torch.zeros(50, 80).long()], cfg)
