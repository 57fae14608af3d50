"""Smoke tests of both forms with the tiny-synthetic preset on synthetic street scenes: a training
step (fixed loss keys, finite losses and gradients), eval outputs, and bad input."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from reference_model.build import build_model
from reference_model.config import ModelConfig, with_overrides
from reference_model.losses import INSTANCE_LOSS_KEYS, LOSS_KEYS
from reference_model.model import PanopticModel
from reference_model.presets import preset

pytestmark = pytest.mark.needs_torch

FORMS = ("combined", "independent")
Batch = tuple[torch.Tensor, list[dict[str, torch.Tensor]]]


def _model(form: str, config: ModelConfig | None = None, seed: int = 0) -> PanopticModel:
    torch.manual_seed(seed)
    return build_model(form=form, config=config or preset("tiny-synthetic"))


@pytest.mark.parametrize("form", FORMS)
def test_a_training_step_gives_the_fixed_losses_and_finite_gradients(
    form: str, make_batch: Callable[..., Batch]
) -> None:
    images, targets = make_batch(2, 96, 192)
    assert sum(t["boxes"].shape[0] for t in targets) > 0
    assert any(t["iscrowd"].any() for t in targets)
    model = _model(form).train()
    losses = model(images, targets)
    assert isinstance(losses, dict)
    assert tuple(losses) == LOSS_KEYS
    assert all(v.dim() == 0 and bool(torch.isfinite(v)) for v in losses.values())
    sum(losses.values()).backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    missing = [n for n, p in trainable if p.grad is None]
    assert not missing, f"parameters without a gradient: {missing[:5]}"
    assert all(bool(torch.isfinite(p.grad).all()) for _, p in trainable)  # type: ignore[arg-type]


def test_the_independent_form_is_two_networks_that_share_nothing(
    make_batch: Callable[..., Batch],
) -> None:
    model = _model("independent").train()
    semantic = {id(p) for p in model.semantic.parameters()}  # type: ignore[union-attr]
    instance = {id(p) for p in model.instance.parameters()}  # type: ignore[union-attr]
    assert semantic
    assert instance
    assert not semantic & instance
    images, targets = make_batch(2, 64, 128)
    losses = model(images, targets)
    losses["semantic"].backward()
    assert all(p.grad is None for p in model.instance.parameters())  # type: ignore[union-attr]
    assert not hasattr(model.semantic, "rpn")


def test_the_combined_form_shares_one_body(make_batch: Callable[..., Batch]) -> None:
    model = _model("combined").train()
    images, targets = make_batch(2, 64, 128)
    losses = model(images, targets)
    body_weight = model.backbone.body.layer4[0].conv1.weight  # type: ignore[union-attr, index]
    (g_sem,) = torch.autograd.grad(losses["semantic"], body_weight, retain_graph=True)
    (g_ins,) = torch.autograd.grad(losses["rpn_objectness"], body_weight)
    assert g_sem.abs().sum() > 0
    assert g_ins.abs().sum() > 0


@pytest.mark.parametrize("form", FORMS)
def test_eval_gives_one_valid_prediction_per_image(
    form: str, make_batch: Callable[..., Batch]
) -> None:
    images, _ = make_batch(2, 96, 192)
    model = _model(form).eval()
    preds = model(images, image_sizes=[(96, 192), (80, 150)])
    assert isinstance(preds, list)
    assert len(preds) == 2
    for pred, (h, w) in zip(preds, [(96, 192), (80, 150)], strict=True):
        assert pred.panoptic.shape == pred.semantic.shape == (h, w)
        assert pred.panoptic.dtype == pred.semantic.dtype == torch.int64
        assert pred.panoptic.device.type == "cpu"
        ids = {s["id"] for s in pred.segments}
        assert set(torch.unique(pred.panoptic).tolist()) <= ids | {0}
        assert all(
            0 <= s["class_index"] < 19 and s["isthing"] == (s["class_index"] >= 11)
            for s in pred.segments
        )
        k = pred.instances.boxes.shape[0]
        assert pred.instances.masks.shape == (k, h, w)
        assert pred.instances.masks.dtype == torch.bool
        assert pred.instances.labels.shape == pred.instances.scores.shape == (k,)
        assert int(pred.semantic.min()) >= 0
        assert int(pred.semantic.max()) < 19


def test_no_detection_still_gives_a_prediction(make_batch: Callable[..., Batch]) -> None:
    config = with_overrides(preset("tiny-synthetic"), {"roi.score_threshold": 1.0})
    images, _ = make_batch(1, 64, 128)
    (pred,) = _model("combined", config).eval()(images)
    assert pred.instances.boxes.shape == (0, 4)
    assert pred.instances.masks.shape == (0, 64, 128)
    assert not any(s["isthing"] for s in pred.segments)
    assert pred.panoptic.shape == (64, 128)


def test_an_image_without_instances_trains(make_batch: Callable[..., Batch]) -> None:
    images, targets = make_batch(2, 64, 128)
    h, w = targets[0]["semantic"].shape
    targets[0] = {
        "semantic": torch.zeros(h, w, dtype=torch.int64),
        "boxes": torch.zeros(0, 4),
        "labels": torch.zeros(0, dtype=torch.int64),
        "masks": torch.zeros(0, h, w, dtype=torch.bool),
        "iscrowd": torch.zeros(0, dtype=torch.bool),
    }
    targets[1] = targets[0]
    model = _model("combined").train()
    losses = model(images, targets)
    assert all(bool(torch.isfinite(v)) for v in losses.values())
    assert float(losses["roi_mask"].detach()) == 0.0
    assert float(losses["rpn_box"].detach()) == 0.0
    sum(losses.values()).backward()


def test_an_image_size_not_a_multiple_of_32_is_padded(make_batch: Callable[..., Batch]) -> None:
    images, targets = make_batch(2, 70, 100)
    model = _model("combined")
    losses = model.train()(images, targets)
    assert tuple(losses) == LOSS_KEYS
    preds = model.eval()(images)
    assert [p.panoptic.shape for p in preds] == [(70, 100), (70, 100)]


def test_bad_images_are_clear_errors() -> None:
    model = _model("combined").eval()
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\) RGB, got shape \(1, 4, 64, 64\)"):
        model(torch.zeros(1, 4, 64, 64))
    with pytest.raises(ValueError, match="smaller than the network's largest stride \\(64\\)"):
        model(torch.zeros(1, 3, 32, 128))
    nan = torch.zeros(1, 3, 64, 64)
    nan[0, 1, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        model(nan)
    with pytest.raises(TypeError, match="must be float"):
        model(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"image_sizes\[0\] = \(65, 64\) is not within"):
        model(torch.zeros(1, 3, 64, 64), image_sizes=[(65, 64)])


def test_bad_targets_are_clear_errors(make_batch: Callable[..., Batch]) -> None:
    images, targets = make_batch(2, 64, 128)
    model = _model("combined").train()
    with pytest.raises(ValueError, match="pass targets"):
        model(images)
    bad = [dict(t) for t in targets]
    bad[1]["labels"] = bad[1]["labels"] + 8
    with pytest.raises(ValueError, match=r"targets\[1\]\['labels'\] must be thing indices in 0..7"):
        model(images, bad)
    bad = [dict(t) for t in targets]
    bad[0]["masks"] = bad[0]["masks"][:, :10]
    with pytest.raises(ValueError, match=r"targets\[0\]\['masks'\] must have shape"):
        model(images, bad)
    bad = [dict(t) for t in targets]
    del bad[0]["iscrowd"]
    with pytest.raises(KeyError, match=r"targets\[0\] lacks \['iscrowd'\]"):
        model(images, bad)
    bad = [dict(t) for t in targets]
    bad[0]["semantic"] = bad[0]["semantic"].clone()
    bad[0]["semantic"][0, 0] = 19
    with pytest.raises(ValueError, match=r"class indices outside 0\.\.18"):
        model(images, bad)


def test_instance_only_loss_keys_are_the_first_five() -> None:
    assert INSTANCE_LOSS_KEYS == ("rpn_objectness", "rpn_box", "roi_class", "roi_box", "roi_mask")
