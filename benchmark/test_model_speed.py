"""Speed of the tiny-synthetic model on the CPU (`nox -s bench`): a training step (forward +
backward of a 2-image 192 x 384 batch) and inference, for both forms side by side.

The issue's target: a training step "well under a second" on the CPU, so that the demo trains
both forms in minutes. The ratio independent / combined is the paper's point in miniature
(two bodies cost more than one); `python -m benchmark.compute_cost` gives the counted FLOPs.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from reference_model.build import build_model
from reference_model.presets import preset
from tests.reference_model.conftest import Batch, synthetic_batch

HEIGHT, WIDTH = 192, 384  # the demo's image size
_TIMES: dict[str, float] = {}


def _batch() -> Batch:
    """Two synthetic scenes through the data pipeline's normalisation and targets."""
    return synthetic_batch(2, HEIGHT, WIDTH, seed=0)


@pytest.mark.needs_torch
@pytest.mark.parametrize("form", ["combined", "independent"])
def test_training_step(benchmark: Any, form: str) -> None:
    torch.manual_seed(0)
    model = build_model(form=form, config=preset("tiny-synthetic")).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images, targets = _batch()

    def step() -> None:
        optimizer.zero_grad()
        losses = model(images, targets)
        sum(losses.values()).backward()
        optimizer.step()

    benchmark.pedantic(step, rounds=10, warmup_rounds=2)
    _record(benchmark, "train", form)


@pytest.mark.needs_torch
@pytest.mark.parametrize("form", ["combined", "independent"])
def test_inference(benchmark: Any, form: str) -> None:
    torch.manual_seed(0)
    model = build_model(form=form, config=preset("tiny-synthetic")).eval()
    images, _ = _batch()
    benchmark.pedantic(lambda: model(images), rounds=10, warmup_rounds=1)
    _record(benchmark, "eval", form)


def _record(benchmark: Any, kind: str, form: str) -> None:
    """Keep the median; print independent / combined once both are measured."""
    if benchmark.disabled:  # --benchmark-disable: the code ran once, nothing was timed
        return
    _TIMES[f"{kind}-{form}"] = benchmark.stats.stats.median
    combined, independent = _TIMES.get(f"{kind}-combined"), _TIMES.get(f"{kind}-independent")
    if combined and independent:
        print(
            f"\n{kind}: combined {combined:.3f} s, independent {independent:.3f} s per 2-image "
            f"batch; independent / combined = {independent / combined:.2f}"
        )
