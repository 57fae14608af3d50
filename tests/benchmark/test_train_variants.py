"""The machinery of `python -m benchmark.train_variants` (no timing here): the 1x1
convolutions it times compute what `F.conv2d` computes, and bad variants are refused."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.needs_torch

torch = pytest.importorskip("torch")

from benchmark import train_variants  # noqa: E402


@pytest.mark.parametrize("way", [train_variants._matmul_1x1, train_variants._channels_last_1x1])
def test_the_1x1_ways_equal_conv2d(way: object) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 16, 6, 10, generator=gen, requires_grad=True)
    w = torch.randn(5, 16, 1, 1, generator=gen, requires_grad=True)
    b = torch.randn(5, generator=gen, requires_grad=True)
    g = torch.randn(2, 5, 6, 10, generator=gen)
    want = torch.autograd.grad(torch.nn.functional.conv2d(x, w, b), (x, w, b), g)
    y = way(x, w, b)  # type: ignore[operator]
    assert y.shape == (2, 5, 6, 10)
    assert torch.allclose(y, torch.nn.functional.conv2d(x, w, b), atol=1e-5)
    for got, expected in zip(torch.autograd.grad(y, (x, w, b), g), want, strict=True):
        assert torch.allclose(got, expected, atol=1e-4)


@pytest.mark.parametrize("argv", [["--rounds", "0"], ["--variants", "fp16"], ["--variants", "cl"]])
def test_bad_arguments_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as error:
        train_variants.main(argv)
    assert error.value.code == 2


def test_the_ops_loss_variant_is_put_back(capsys: pytest.CaptureFixture[str]) -> None:
    """A run of the variants, `opsloss` among them, leaves the model's own loss in place
    (that the two losses agree is tests/reference_model/test_upsampled_loss.py's)."""
    from reference_model import model as model_module

    train_variants.compare("combined", ["bf16-opsloss", "bf16"], rounds=1)
    assert model_module.SEMANTIC_LOSS is train_variants.KERNEL_LOSS
    assert model_module.SEMANTIC_LOSS is not train_variants.ops_semantic_loss
    assert "bf16-opsloss" in capsys.readouterr().out


@pytest.mark.parametrize(("form", "bodies"), [("combined", 1), ("independent", 2)])
def test_the_compile_variant_wraps_every_body_and_nothing_else(form: str, bodies: int) -> None:
    """torch.compile is lazy: building the variant compiles nothing, so this is cheap."""
    from torch._dynamo.eval_frame import OptimizedModule

    variant = train_variants.Variant("fp32-compile", form)
    wrapped = [m for m in variant.model.modules() if isinstance(m, OptimizedModule)]
    assert len(wrapped) == bodies
    assert all(type(m._orig_mod).__name__ == "Backbone" for m in wrapped)
    plain = train_variants.Variant("fp32", form)
    assert not any(isinstance(m, OptimizedModule) for m in plain.model.modules())
