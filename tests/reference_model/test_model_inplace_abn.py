"""The whole network with in-place ABN computes what it computes with plain BN + leaky ReLU:
the paper's iABN (§3.1) saves memory without changing the maths (same losses, same gradients)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
import torch

from reference_model.build import build_model
from reference_model.presets import preset

pytestmark = pytest.mark.needs_torch


@pytest.mark.parametrize("form", ["combined", "independent"])
def test_inplace_abn_network_equals_abn_network(form: str, make_batch: Callable) -> None:
    torch.manual_seed(0)
    base = preset("tiny-synthetic")
    reference = build_model(form=form, config=dataclasses.replace(base, norm="abn")).double()
    inplace = build_model(form=form, config=dataclasses.replace(base, norm="inplace_abn")).double()
    assert any(type(m).__name__ == "InPlaceABN" for m in inplace.modules())
    inplace.load_state_dict(reference.state_dict())
    images, targets = make_batch(2, 96, 192, seed=3)
    losses = []
    for model in (reference, inplace):
        model.train()
        torch.manual_seed(1)  # the RPN/ROI samplers draw the same samples
        out = model(images.double().clone(), targets)
        sum(out.values()).backward()
        losses.append(out)
    assert losses[0].keys() == losses[1].keys()
    for key in losses[0]:
        torch.testing.assert_close(losses[1][key], losses[0][key], rtol=1e-7, atol=1e-9)
    grads = dict(reference.named_parameters())
    for name, p in inplace.named_parameters():
        if p.grad is None:
            assert grads[name].grad is None, name
            continue
        torch.testing.assert_close(p.grad, grads[name].grad, rtol=1e-6, atol=1e-9, msg=name)
    for name, buf in inplace.named_buffers():
        torch.testing.assert_close(buf, dict(reference.named_buffers())[name], msg=name)
