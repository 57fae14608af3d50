"""The iABN memory benchmark's models: the in-place variant computes the same network, and the
saved activations are the ones the derivation in `benchmark.iabn_memory.conv_chain` counts."""

from __future__ import annotations

import pytest
import torch
from torch.autograd.graph import saved_tensors_hooks

from benchmark.iabn_memory import conv_chain, resnet50_body, saved_storages

pytestmark = pytest.mark.needs_torch


@pytest.mark.slow
def test_resnet50_with_inplace_abn_computes_the_same_as_with_abn_and_saves_less() -> None:
    gen = torch.Generator().manual_seed(0)
    # 64x64: layer4 is 2x2, so BN sees 8 values per channel; at 32x32 it sees 2, where BN
    # amplifies float64 rounding beyond any useful tolerance in both implementations alike
    images = torch.randn(2, 3, 64, 64, generator=gen, dtype=torch.double)
    results, saved = {}, {}
    for variant in ("abn", "inplace_abn"):
        torch.manual_seed(1)  # the same conv weights; norm-act modules start at (1, 0)
        model = resnet50_body(variant).double().train()
        storages: dict[int, int] = {}

        def pack(t: torch.Tensor, storages: dict[int, int] = storages) -> torch.Tensor:
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with saved_tensors_hooks(pack, lambda t: t):
            out = model(images)
        (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        saved[variant] = sum(storages.values())
        last_norm = model[-1][-1].bn2
        results[variant] = (out.detach(), model[0].weight.grad, last_norm.weight.grad)
    for got, expected in zip(results["inplace_abn"], results["abn"], strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-7)
    assert saved["inplace_abn"] < saved["abn"]


@pytest.mark.parametrize(("variant", "layer_tensors"), [("abn", 3), ("bn_inplace_act", 2)])
def test_conv_chain_saves_the_derived_number_of_activations(
    variant: str, layer_tensors: int
) -> None:
    depth, channels, batch, size = 4, 8, 2, 16
    images = torch.randn(batch, 3, size, size)
    layer_bytes = batch * channels * size * size * 4  # one float32 activation of a layer

    def counted(name: str) -> int:
        """Saved activations of a layer's size; the rest must be per-channel values."""
        storages = saved_storages(conv_chain(name, depth=depth, channels=channels), images)
        large = [b for b in storages.values() if b == layer_bytes]
        assert sum(storages.values()) - sum(large) < 0.01 * sum(large)
        return len(large)

    # Per layer (the input image is not counted): iABN saves its output, which the next conv
    # saves too: `depth`. BN + in-place leaky ReLU: BN's input (the conv output) and the
    # activation's output (the next conv's input): 2 depth. ABN: the conv output, the BN output
    # (the out-of-place activation's input) and the activation output, which only the next
    # conv saves, so not in the last layer: 3 depth - 1.
    expected = layer_tensors * depth - (1 if variant == "abn" else 0)
    assert counted(variant) == expected
    assert counted("inplace_abn") == depth
