"""The box coder against torchvision's (its private `_utils.BoxCoder` is the oracle here only):
the same bits for encoding and decoding, in float32 and float64, with and without the clamp."""

from __future__ import annotations

import math

import pytest
import torch
from torchvision.models.detection._utils import BoxCoder as TorchvisionBoxCoder

from reference_model.boxes import BOX_SCALE_CLAMP, BoxCoder

pytestmark = pytest.mark.needs_torch

WEIGHTS = [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)]  # the RPN's and the ROI head's


def _random_boxes(n: int, generator: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    """(n, 4) xyxy boxes with positive sides in a 2048 x 4096 image."""
    xy = torch.rand(n, 2, generator=generator, dtype=dtype) * torch.tensor([4096.0, 2048.0])
    wh = torch.rand(n, 2, generator=generator, dtype=dtype) * 500 + 0.5
    return torch.cat([xy, xy + wh], dim=1)


@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n", [1, 7, 1000])  # under, at and over a vector register's width
def test_encoding_and_decoding_are_torchvisions_bit_for_bit(
    weights: tuple[float, float, float, float], dtype: torch.dtype, n: int
) -> None:
    g = torch.Generator().manual_seed(n)
    boxes, reference = _random_boxes(n, g, dtype), _random_boxes(n, g, dtype)
    ours, theirs = BoxCoder(weights), TorchvisionBoxCoder(weights, math.log(1000.0 / 16))
    encoded = ours.encode_single(boxes, reference)
    assert torch.equal(encoded, theirs.encode_single(boxes, reference))
    deltas = torch.randn(n, 4, generator=g, dtype=dtype) * 3  # some beyond the clamp
    deltas[0, 2:] = 10.0
    decoded = ours.decode_single(deltas, reference)
    assert torch.equal(decoded, theirs.decode_single(deltas, reference))
    assert torch.equal(
        ours.decode_single(encoded, reference), theirs.decode_single(encoded, reference)
    )


def test_decoding_undoes_encoding_and_the_clamp_limits_growth() -> None:
    g = torch.Generator().manual_seed(0)
    boxes, reference = _random_boxes(50, g, torch.float64), _random_boxes(50, g, torch.float64)
    coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
    torch.testing.assert_close(
        coder.decode_single(coder.encode_single(boxes, reference), reference), boxes
    )
    huge = torch.tensor([[0.0, 0.0, 100.0, 100.0]], dtype=torch.float64)
    grown = coder.decode_single(huge, torch.tensor([[0.0, 0.0, 16.0, 16.0]], dtype=torch.float64))
    width = float(grown[0, 2] - grown[0, 0])
    assert width == pytest.approx(16 * math.exp(BOX_SCALE_CLAMP)) == pytest.approx(1000.0)
