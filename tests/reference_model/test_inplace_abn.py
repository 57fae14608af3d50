"""In-place ABN against torch's own BatchNorm + LeakyReLU (the reference implementation run
in each test): outputs, gradients, running statistics, gradcheck, the in-place property,
the weight-near-zero rule, conversion, and the synchronised variant over 2 gloo processes."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import torch
from torch import nn
from torch.autograd.graph import saved_tensors_hooks
from torch.nn import functional as F

from reference_model.modules.inplace_abn import (
    InPlaceABN,
    InPlaceABNSync,
    convert_inplace_abn,
    effective_scale,
    inplace_abn,
)
from reference_model.modules.norm_act import ABN

pytestmark = pytest.mark.needs_torch

TOL = {"rtol": 1e-5, "atol": 1e-5}  # the tolerance, in float64
SHAPES = [(8, 3), (4, 3, 5), (2, 3, 4, 5), (2, 3, 2, 3, 4)]  # 2-D, 3-D, 4-D, 5-D
DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
BN_BY_DIM = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}


def _randomise(module: nn.Module, seed: int) -> None:
    """Weights of both signs (away from 0), shifts, and non-trivial running statistics."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in [("weight", module.weight), ("bias", module.bias)]:
            t.copy_(torch.randn(t.shape, generator=gen, dtype=t.dtype))
            if name == "weight":
                t.add_(t.sign() * 0.2)
        module.running_mean.copy_(torch.randn(module.num_features, generator=gen))
        module.running_var.copy_(torch.rand(module.num_features, generator=gen) + 0.5)


def _reference(shape: tuple[int, ...], activation: str, seed: int) -> nn.Module:
    """torch's BatchNorm{1,2,3}d + LeakyReLU(0.01) (or nothing), double precision."""
    bn = BN_BY_DIM[len(shape)](shape[1]).double()
    _randomise(bn, seed)
    act = nn.LeakyReLU(0.01) if activation == "leaky_relu" else nn.Identity()
    return nn.Sequential(bn, act)


def _iabn_like(reference: nn.Module, activation: str, cls: type[InPlaceABN] = InPlaceABN) -> Any:
    module = cls(reference[0].num_features, activation=activation).double()
    module.load_state_dict(reference[0].state_dict())
    return module


def _norm(module: nn.Module) -> Any:
    """The BN of a reference (BN, activation) pair, or the iABN module itself."""
    return module[0] if isinstance(module, nn.Sequential) else module


def _step(module: nn.Module, x0: torch.Tensor, grad: torch.Tensor) -> dict[str, torch.Tensor]:
    """Forward on a non-leaf copy of x0, backward of sum(y * grad); everything returned."""
    leaf = x0.clone().requires_grad_()
    y = module(leaf * 1.0)
    (y * grad).sum().backward()
    bn = _norm(module)
    out = {"y": y.detach().clone(), "dx": leaf.grad}
    out.update({"dw": bn.weight.grad.clone(), "db": bn.bias.grad.clone()})
    bn.weight.grad = bn.bias.grad = None
    return out


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("activation", ["leaky_relu", "identity"])
@pytest.mark.parametrize("training", [True, False])
def test_output_and_gradients_equal_batchnorm_then_leaky_relu(
    shape: tuple[int, ...], activation: str, training: bool
) -> None:
    reference = _reference(shape, activation, seed=1).train(training)
    iabn = _iabn_like(reference, activation).train(training)
    gen = torch.Generator().manual_seed(2)
    x0 = torch.randn(shape, generator=gen, dtype=torch.double) * 3 + 1
    grad = torch.randn(shape, generator=gen, dtype=torch.double)
    expected, got = _step(reference, x0, grad), _step(iabn, x0, grad)
    for key in ("y", "dx", "dw", "db"):
        torch.testing.assert_close(got[key], expected[key], **TOL, msg=key)
    torch.testing.assert_close(iabn.running_mean, reference[0].running_mean, rtol=1e-12, atol=0)
    torch.testing.assert_close(iabn.running_var, reference[0].running_var, rtol=1e-12, atol=0)


@pytest.mark.parametrize("layout", ["channels_last", "strided_view", "transposed", "offset"])
@pytest.mark.parametrize("training", [True, False])
def test_views_and_memory_layouts_give_the_same_result(layout: str, training: bool) -> None:
    conv = nn.Conv2d(3, 4, 3).double()
    reference = _reference((2, 4, 6, 7), "leaky_relu", seed=16).train(training)
    iabn = _iabn_like(reference, "leaky_relu").train(training)
    image = torch.randn(2, 3, 8, 9, generator=torch.Generator().manual_seed(17)).double()
    prepare = {
        "channels_last": lambda t: t.contiguous(memory_format=torch.channels_last),
        "strided_view": lambda t: t[:, :, ::2],
        "transposed": lambda t: t.transpose(2, 3),
        "offset": lambda t: t[1:],  # contiguous, but not at the start of its storage
    }[layout]
    grads = []
    for module in (reference, iabn):
        y = module(prepare(conv(image)))
        (y * torch.linspace(-1, 1, y.numel()).double().view_as(y)).sum().backward()
        grads.append((y.detach(), conv.weight.grad, _norm(module).weight.grad))
        conv.weight.grad = None
    for got, expected in zip(grads[1], grads[0], strict=True):
        torch.testing.assert_close(got, expected, **TOL)


@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
def test_running_statistics_follow_batchnorm2d_over_several_steps(momentum: float | None) -> None:
    reference = _reference((3, 4, 5, 6), "leaky_relu", seed=3)
    reference[0].momentum = momentum
    iabn = _iabn_like(reference, "leaky_relu")
    iabn.momentum = momentum
    gen = torch.Generator().manual_seed(4)
    for step in range(5):
        x0 = torch.randn(3, 4, 5, 6, generator=gen, dtype=torch.double) * (step + 1) - step
        grad = torch.randn(x0.shape, generator=gen, dtype=torch.double)
        _step(reference, x0, grad), _step(iabn, x0, grad)
    assert int(iabn.num_batches_tracked) == int(reference[0].num_batches_tracked) == 5
    torch.testing.assert_close(iabn.running_mean, reference[0].running_mean, rtol=1e-12, atol=0)
    torch.testing.assert_close(iabn.running_var, reference[0].running_var, rtol=1e-12, atol=0)
    reference.eval(), iabn.eval()
    x0 = torch.randn(2, 4, 5, 6, generator=gen, dtype=torch.double)
    grad = torch.randn(x0.shape, generator=gen, dtype=torch.double)
    expected, got = _step(reference, x0, grad), _step(iabn, x0, grad)
    for key in ("y", "dx", "dw", "db"):
        torch.testing.assert_close(got[key], expected[key], **TOL, msg=key)


@pytest.mark.parametrize("training", [True, False])
def test_gradcheck_on_a_tiny_input(training: bool) -> None:
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(3, 2, 2, 3, generator=gen, dtype=torch.double, requires_grad=True)
    w = torch.tensor([1.3, -0.7], dtype=torch.double, requires_grad=True)
    b = torch.tensor([0.2, -0.4], dtype=torch.double, requires_grad=True)
    mean, var = torch.tensor([0.1, -0.2], dtype=torch.double), torch.tensor([0.8, 1.7]).double()

    def fn(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        running = (None, None) if training else (mean, var)
        return inplace_abn(x.clone(), w, b, *running, training=training)

    assert torch.autograd.gradcheck(fn, (x, w, b))


def test_input_storage_is_reused_and_only_the_output_is_saved() -> None:
    conv = nn.Conv2d(3, 8, 3, padding=1).double()
    gen = torch.Generator().manual_seed(6)
    image = torch.randn(2, 3, 6, 7, generator=gen, dtype=torch.double)

    def saved_by(norm_act: nn.Module) -> tuple[list[torch.Tensor], torch.Tensor, int]:
        saved: list[torch.Tensor] = []
        x = conv(image)
        storage = x.untyped_storage().data_ptr()
        with saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
            y = norm_act(x)
        y.sum().backward()
        return saved, y, storage

    iabn = InPlaceABN(8).double()
    saved, y, storage = saved_by(iabn)
    big = [t for t in saved if t.numel() > 8]
    assert y.untyped_storage().data_ptr() == storage, "the output must overwrite the input"
    assert len(big) == 1
    assert big[0].untyped_storage().data_ptr() == storage
    assert all(t.numel() <= 8 for t in saved if t is not big[0]), "only per-channel values"
    reference, _, _ = saved_by(ABN(8).double())
    storages = {t.untyped_storage().data_ptr() for t in reference if t.numel() > 8}
    assert len(storages) == 2, "BN + out-of-place leaky ReLU keeps its input and its BN output"


def test_weight_near_zero_is_clamped_to_eps_keeping_its_sign() -> None:
    eps = 1e-5
    weight = torch.tensor([0.0, 1e-9, -1e-9, -0.5, 2.0], dtype=torch.double)
    expected = torch.tensor([eps, eps, -eps, -0.5, 2.0], dtype=torch.double)
    torch.testing.assert_close(effective_scale(weight, eps), expected, rtol=0, atol=0)
    reference = _reference((4, 5, 3, 3), "leaky_relu", seed=7)
    iabn = _iabn_like(reference, "leaky_relu")
    with torch.no_grad():
        iabn.weight.copy_(weight)
        reference[0].weight.copy_(expected)  # BN with the scale iABN uses
    gen = torch.Generator().manual_seed(8)
    x0 = torch.randn(4, 5, 3, 3, generator=gen, dtype=torch.double)
    grad = torch.randn(x0.shape, generator=gen, dtype=torch.double)
    expected_step, got = _step(reference, x0, grad), _step(iabn, x0, grad)
    for key in ("y", "dx", "dw", "db"):  # dw passes straight through the clamp
        torch.testing.assert_close(got[key], expected_step[key], **TOL, msg=key)


def test_frozen_affine_parameters_get_no_gradient() -> None:
    reference = _reference((3, 4, 5, 5), "leaky_relu", seed=9)
    iabn = _iabn_like(reference, "leaky_relu").requires_grad_(False)
    reference.requires_grad_(False)
    gen = torch.Generator().manual_seed(10)
    x0 = torch.randn(3, 4, 5, 5, generator=gen, dtype=torch.double)
    grad = torch.randn(x0.shape, generator=gen, dtype=torch.double)
    got = []
    for module in (reference, iabn):
        leaf = x0.clone().requires_grad_()
        (module(leaf * 1.0) * grad).sum().backward()
        got.append(leaf.grad)
    torch.testing.assert_close(got[1], got[0], **TOL)
    assert iabn.weight.grad is None
    assert iabn.bias.grad is None
    with torch.no_grad():  # a frozen stem: nothing requires grad at all
        torch.testing.assert_close(iabn(x0.clone()), reference(x0), **TOL)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bfloat16", "float16"])
def test_half_precision_under_autocast_keeps_float32_statistics(
    device: str, dtype: torch.dtype
) -> None:
    conv = nn.Conv2d(3, 6, 3, padding=1).to(device)
    iabn, reference = InPlaceABN(6).to(device), nn.BatchNorm2d(6).to(device)
    gen = torch.Generator().manual_seed(11)
    image = torch.randn(2, 3, 8, 8, generator=gen).to(device)
    grad = torch.randn(2, 6, 8, 8, generator=gen).to(device)
    with torch.autocast(device, dtype=dtype):
        x = conv(image).detach()
        assert x.dtype == dtype
        leaf = x.clone().requires_grad_()
        y = iabn(leaf * 1)
    assert y.dtype == dtype
    (y.float() * grad).sum().backward()
    exact = x.float().requires_grad_()  # the same half-precision input, in float32
    expected = F.leaky_relu(reference(exact), 0.01)
    (expected * grad).sum().backward()
    # Statistics of the same values in float32 agree to float32 rounding; outputs and
    # gradients to the half type's rounding (8 significant bits for bfloat16), scaled by
    # their largest value because x̂ is recovered from the rounded output.
    for got, want in [(iabn.running_mean, reference.running_mean),
                      (iabn.running_var, reference.running_var)]:  # fmt: skip
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    for got, want in [(y, expected), (leaf.grad, exact.grad),
                      (iabn.weight.grad, reference.weight.grad),
                      (iabn.bias.grad, reference.bias.grad)]:  # fmt: skip
        want = want.detach()
        scale = float(want.abs().max())
        torch.testing.assert_close(got.float(), want, rtol=3e-2, atol=3e-2 * scale)
    assert iabn.weight.grad.dtype == torch.float32


def test_state_dicts_are_interchangeable_with_abn() -> None:
    abn = ABN(6)
    _randomise(abn, seed=12)
    iabn = InPlaceABN(6)
    assert list(iabn.state_dict()) == list(abn.state_dict())
    iabn.load_state_dict(abn.state_dict())
    back = ABN(6)
    back.load_state_dict(iabn.state_dict())
    x = torch.randn(2, 6, 4, 4)
    for module in (abn, iabn, back):
        module.eval()
    torch.testing.assert_close(iabn(x.clone()), abn(x))
    torch.testing.assert_close(back(x), abn(x))


def test_bad_input_and_configuration_get_clear_errors() -> None:
    with pytest.raises(ValueError, match="invertible activation"):
        InPlaceABN(4, activation="relu")
    with pytest.raises(ValueError, match="positive leaky ReLU slope"):
        InPlaceABN(4, activation_param=0.0)
    iabn = InPlaceABN(4)
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 4, \.\.\.\), got \(2, 3"):
        iabn(torch.randn(2, 3, 5, 5))
    with pytest.raises(ValueError, match="leaf tensor that requires grad"):
        iabn(torch.randn(2, 4, 5, 5, requires_grad=True))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        iabn(torch.randn(1, 4, 1, 1))
    with pytest.raises(ValueError, match="running_mean and running_var"):
        inplace_abn(torch.randn(2, 4), iabn.weight, iabn.bias, None, None, training=False)


def test_convert_replaces_abn_sharing_parameters_and_buffers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), ABN(4), nn.Sequential(nn.Conv2d(4, 4, 1), ABN(4, activation="identity"))
    )
    model.append(ABN(4, activation="relu"))
    model[1].weight.requires_grad_(False)
    model.eval()
    params, buffers = list(model.parameters()), list(model.buffers())
    keys = list(model.state_dict())
    x = torch.randn(2, 3, 6, 6)
    expected = model(x)
    with caplog.at_level(logging.WARNING):
        converted = convert_inplace_abn(model)
    assert converted is model
    assert type(model[1]) is InPlaceABN
    assert type(model[2][1]) is InPlaceABN
    assert model[2][1].activation == "identity"
    assert type(model[3]) is ABN
    assert "invertible" in caplog.text
    assert all(a is b for a, b in zip(model.parameters(), params, strict=True))
    assert all(a is b for a, b in zip(model.buffers(), buffers, strict=True))
    assert list(model.state_dict()) == keys
    assert not model[1].training
    assert not model[1].weight.requires_grad
    torch.testing.assert_close(model(x), expected)
    synced = convert_inplace_abn(model, sync=True)
    assert type(synced[1]) is InPlaceABNSync
    assert synced[1].weight is params[2]
    single = convert_inplace_abn(ABN(4))
    assert type(single) is InPlaceABN


def test_sync_variant_without_torch_distributed_equals_inplace_abn() -> None:
    reference = _reference((3, 4, 5, 6), "leaky_relu", seed=13)
    plain = _iabn_like(reference, "leaky_relu")
    synced = _iabn_like(reference, "leaky_relu", InPlaceABNSync)
    gen = torch.Generator().manual_seed(14)
    x0 = torch.randn(3, 4, 5, 6, generator=gen, dtype=torch.double)
    grad = torch.randn(x0.shape, generator=gen, dtype=torch.double)
    expected, got = _step(plain, x0, grad), _step(synced, x0, grad)
    for key in ("y", "dx", "dw", "db"):
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0, msg=key)


# --- the synchronised variant over 2 gloo processes -------------------------------------------

WORLD = 2
CHANNELS = 4
# Per step, the input shape of each rank: unequal batch sizes, then unequal spatial sizes too.
SYNC_SHAPES = [
    [(3, CHANNELS, 5, 6), (1, CHANNELS, 5, 6)],
    [(2, CHANNELS, 5, 6), (1, CHANNELS, 3, 4)],
]


def _sync_data(step: int, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The input and upstream gradient of `rank` at `step`, the same in every process."""
    gen = torch.Generator().manual_seed(100 * step + rank)
    shape = SYNC_SHAPES[step][rank]
    x = torch.randn(shape, generator=gen, dtype=torch.double) * (1 + rank) + step - rank
    return x, torch.randn(shape, generator=gen, dtype=torch.double)


def _sync_module(cls: type[InPlaceABN], **kwargs: Any) -> Any:
    """The same initial state in every process (that of `_reference` with seed 15)."""
    module = _iabn_like(_reference((2, CHANNELS), "leaky_relu", 15), "leaky_relu", cls)
    for name, value in kwargs.items():
        setattr(module, name, value)
    return module


def _sync_worker(rank: int, init_file: str, out_dir: str) -> None:
    import datetime

    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{init_file}",
        rank=rank,
        world_size=WORLD,
        timeout=datetime.timedelta(seconds=60),
    )
    try:
        pair = dist.new_group([0, 1])
        singles = [dist.new_group([r]) for r in range(WORLD)]
        module = _sync_module(InPlaceABNSync, group=pair)
        results: dict[str, Any] = {"steps": []}
        for step in range(len(SYNC_SHAPES)):
            results["steps"].append(_step(module, *_sync_data(step, rank)))
        results["running"] = (module.running_mean.clone(), module.running_var.clone())
        module.eval()
        results["eval"] = _step(module, *_sync_data(0, rank))
        alone = _sync_module(InPlaceABNSync, group=singles[rank])  # one process: no sync
        local = _sync_module(InPlaceABN)
        results["alone"] = (_step(alone, *_sync_data(1, rank)), _step(local, *_sync_data(1, rank)))
        torch.save(results, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _bn_on_concatenated_batch(reference: nn.Module, step: int) -> list[dict[str, torch.Tensor]]:
    """Single-process BN + leaky ReLU over the pixels of every rank (flattened to (1, C, L),
    which BN treats exactly as the union of the batches); the gradients split back per rank."""
    data = [_sync_data(step, rank) for rank in range(WORLD)]
    leaves = [x.clone().requires_grad_() for x, _ in data]
    flat = torch.cat([x.transpose(0, 1).reshape(CHANNELS, -1) for x in leaves], dim=1)
    grad = torch.cat([g.transpose(0, 1).reshape(CHANNELS, -1) for _, g in data], dim=1)
    y = reference(flat[None])[0]
    (y * grad).sum().backward()
    out, start = [], 0
    for leaf in leaves:
        n, _, *spatial = leaf.shape
        y_rank = y[:, start : start + leaf[:, 0].numel()].reshape(CHANNELS, n, *spatial)
        out.append({"y": y_rank.transpose(0, 1).detach(), "dx": leaf.grad})
        start += leaf[:, 0].numel()
    out[0].update({"dw": reference[0].weight.grad.clone(), "db": reference[0].bias.grad.clone()})
    reference[0].weight.grad = reference[0].bias.grad = None
    return out


@pytest.mark.slow
def test_sync_over_two_gloo_processes_equals_bn_on_the_concatenated_batch(tmp_path: Any) -> None:
    import torch.multiprocessing as mp

    mp.spawn(_sync_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    reference = _reference((2, CHANNELS), "leaky_relu", 15)
    for step in range(len(SYNC_SHAPES)):
        expected = _bn_on_concatenated_batch(reference, step)
        for rank, got in enumerate(ranks):
            for key in ("y", "dx"):
                torch.testing.assert_close(got["steps"][step][key], expected[rank][key], **TOL)
        for key in ("dw", "db"):  # local gradients; their sum (what DDP averages) is the total
            total = sum(got["steps"][step][key] for got in ranks)
            torch.testing.assert_close(total, expected[0][key], **TOL, msg=key)
    for got in ranks:
        torch.testing.assert_close(got["running"][0], reference[0].running_mean, **TOL)
        torch.testing.assert_close(got["running"][1], reference[0].running_var, **TOL)
        alone, local = got["alone"]
        for key in ("y", "dx", "dw", "db"):
            torch.testing.assert_close(alone[key], local[key], rtol=0, atol=0, msg=key)
    bn2d = nn.Sequential(nn.BatchNorm2d(CHANNELS).double(), nn.LeakyReLU(0.01)).eval()
    bn2d[0].load_state_dict(reference[0].state_dict())
    for rank, got in enumerate(ranks):  # eval: running statistics, no synchronisation
        expected_eval = _step(bn2d, *_sync_data(0, rank))
        for key in ("y", "dx"):
            torch.testing.assert_close(got["eval"][key], expected_eval[key], **TOL, msg=key)
