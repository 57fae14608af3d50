"""The trainer with the real network: one step of each form on batches of the synthetic data
from the data pipeline (images of different sizes, padded; docs/contracts.md §2)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from reference_model import LOSS_KEYS, build_model, preset
from reference_model.data import AugmentationConfig, DataConfig, synthetic, train_loader
from reference_model.training import RunDirectory, Trainer, TrainingConfig, setup

pytestmark = pytest.mark.needs_torch

# short sides 64..96 (the network's largest stride is 64): the two images of a batch differ
DATA = AugmentationConfig(short_side=64, scale_range=(1.0, 1.5), test_short_side=64)


@pytest.mark.parametrize("form", ["combined", "independent"])
def test_one_training_step_of_each_form(form: str, synthetic_root: Path, tmp_path: Path) -> None:
    data = DataConfig(dataset="synthetic", root=str(synthetic_root), workers=0, augmentation=DATA)
    source = synthetic(synthetic_root, "train")
    config = TrainingConfig(  # no weight decay: a parameter moves only by its gradient
        iterations=1,
        milestones=(),
        warmup_iterations=0,
        batch_size=2,
        weight_decay=0.0,
        tensorboard=False,
    )
    loader, _ = train_loader(source, data, batch_per_rank=2, iterations=1)
    batch = next(iter(loader))
    assert batch.image_sizes[0] != batch.image_sizes[1]  # padding to a common size is exercised
    assert batch.images.shape[-1] % 32 == 0
    torch.manual_seed(0)
    model = build_model(form=form, config=preset("tiny-synthetic"))
    trainer = Trainer(
        model,
        source=source,
        data=data,
        config=config,
        run=RunDirectory(tmp_path / form),
        run_config={"form": form},
        ctx=setup("cpu"),
        progress=False,
    )
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = trainer.fit()
    assert set(result.last_losses) == {"loss", *LOSS_KEYS}
    assert all(math.isfinite(v) for v in result.last_losses.values())
    assert result.last_losses["loss"] == pytest.approx(
        sum(result.last_losses[k] for k in LOSS_KEYS), rel=1e-5
    )
    # the semantic head and both stages of the instance branch learned from the step
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    for part in ("semantic_head", "rpn", "roi_head.box_head", "roi_head.mask_head"):
        assert any(part in n for n in moved), part
