"""ImageNet initialisation of the body (§5): from a local torchvision state dict, with clear
errors for a missing, unreadable or mismatched file and for no network."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from reference_model import pretrained
from reference_model.build import build_model
from reference_model.config import with_overrides
from reference_model.presets import preset
from reference_model.pretrained import PretrainedWeightsError, load_body_weights

pytestmark = pytest.mark.needs_torch


@pytest.fixture(scope="module")
def resnet50_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A torchvision ResNet-50 state dict saved locally, as a user would bring the ImageNet one."""
    torch.manual_seed(3)
    path = tmp_path_factory.mktemp("weights") / "resnet50.pth"
    torch.save(torchvision.models.resnet50().state_dict(), path)
    return path


def _config(weights: str):  # type: ignore[no-untyped-def]
    return with_overrides(preset("paper-cityscapes"), {"body.weights": weights, "norm": "abn"})


def test_a_local_torchvision_file_initialises_each_body(resnet50_file: Path) -> None:
    state = torch.load(resnet50_file, weights_only=True)
    model = build_model(form="independent", config=_config(str(resnet50_file)))
    for body in (model.semantic.backbone.body, model.instance.backbone.body):  # type: ignore[union-attr]
        ours = body.state_dict()
        assert all(torch.equal(ours[k], v) for k, v in state.items() if not k.startswith("fc."))
    # The paper's presets freeze the stem and conv2 (§5) and every norm layer's parameters.
    body = model.instance.backbone.body  # type: ignore[union-attr]
    assert not body.conv1.weight.requires_grad
    assert not body.layer1[0].conv1.weight.requires_grad
    assert body.layer2[0].conv1.weight.requires_grad
    assert not body.layer2[0].bn1.weight.requires_grad


def test_a_missing_or_unreadable_file_is_named(tmp_path: Path) -> None:
    body = build_model(form="combined", config=_config("scratch")).backbone.body  # type: ignore[union-attr]
    missing = tmp_path / "nope.pth"
    with pytest.raises(PretrainedWeightsError, match=f"{missing} does not exist"):
        load_body_weights(body, str(missing))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(
        PretrainedWeightsError, match=r"junk\.pth: not a readable PyTorch state dict"
    ):
        load_body_weights(body, str(junk))


def test_a_file_for_another_network_is_rejected(tmp_path: Path) -> None:
    body = build_model(form="combined", config=_config("scratch")).backbone.body  # type: ignore[union-attr]
    resnet18 = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), resnet18)
    with pytest.raises(PretrainedWeightsError, match=r"resnet18.pth: does not fit the body"):
        load_body_weights(body, str(resnet18))


def test_imagenet_without_network_or_file_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(self: object, **kwargs: object) -> None:
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(
        torchvision.models.ResNet50_Weights.IMAGENET1K_V1.__class__, "get_state_dict", offline
    )
    with pytest.raises(PretrainedWeightsError, match=r"set body\.weights to its path") as info:
        pretrained.imagenet_state_dict()
    assert "'scratch'" in str(info.value)
    assert "resnet50-" in str(info.value)
