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
from reference_model.synthetic import make_sample
from reference_model.synthetic.classes import BY_LABEL_ID, INSTANCE_DIVISOR

HEIGHT, WIDTH = 192, 384  # the demo's image size
N_STUFF = 11
_TIMES: dict[str, float] = {}


def _target(ids: Any) -> dict[str, torch.Tensor]:
    ids = torch.from_numpy(ids.astype("int64"))
    semantic = torch.full(ids.shape, 255, dtype=torch.int64)
    boxes, labels, masks, crowd = [], [], [], []
    for value in torch.unique(ids).tolist():
        cls = BY_LABEL_ID.get(value // INSTANCE_DIVISOR if value >= INSTANCE_DIVISOR else value)
        if cls is None:
            continue
        mask = ids == value
        semantic[mask] = cls.train_id
        if cls.isthing:
            ys, xs = torch.nonzero(mask, as_tuple=True)
            boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            labels.append(cls.train_id - N_STUFF)
            masks.append(mask)
            crowd.append(value < INSTANCE_DIVISOR)
    return {
        "semantic": semantic,
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor(labels, dtype=torch.int64),
        "masks": torch.stack(masks) if masks else torch.zeros(0, *ids.shape, dtype=torch.bool),
        "iscrowd": torch.tensor(crowd, dtype=torch.bool),
    }


def _batch() -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    samples = [make_sample("train", i, seed=0, height=HEIGHT, width=WIDTH) for i in range(2)]
    images = torch.stack(
        [torch.from_numpy(s.image).permute(2, 0, 1).float() / 255 for s in samples]
    )
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    return (images - mean) / std, [_target(s.instance_ids) for s in samples]


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
