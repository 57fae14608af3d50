"""The autograd function of in-place activated BN and its functional form `inplace_abn`.

What it saves, recomputes and why, the weight-near-zero rule and the statistics are described
in `reference_model.modules.inplace_abn`, whose modules are the way the model uses it.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.distributed as dist
from torch.autograd.function import FunctionCtx, once_differentiable
from torch.nn import functional as F

from reference_model.modules.norm_act import LEAKY_SLOPE

INVERTIBLE_ACTIVATIONS = ("leaky_relu", "identity")


def effective_scale(weight: torch.Tensor, eps: float) -> torch.Tensor:
    """The scale iABN multiplies by: `sign(weight)·max(|weight|, eps)`, sign(0) = +1."""
    return torch.where(weight < 0, weight.clamp(max=-eps), weight.clamp(min=eps))


def _reduce_dims(x: torch.Tensor) -> list[int]:
    return [0, *range(2, x.dim())]


def _per_channel(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(C,) -> (1, C, 1, ..., 1), broadcastable against `like`."""
    return t.view(1, -1, *([1] * (like.dim() - 2)))


def _no_autocast(device_type: str) -> contextlib.AbstractContextManager[Any]:
    if torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


def _batch_statistics(
    x: torch.Tensor, stat_dtype: torch.dtype, group: Any
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-channel mean, biased variance and count, over `group` when one is given."""
    channels = x.shape[1]
    count = x.numel() // channels if channels else 0
    if count == 0:
        mean = x.new_zeros(channels, dtype=stat_dtype)
        var = x.new_zeros(channels, dtype=stat_dtype)
    else:
        var, mean = torch.var_mean(x.to(stat_dtype), dim=_reduce_dims(x), correction=0)
    if group is None:
        return mean, var, x.new_full((), float(count), dtype=stat_dtype)
    # Sums, not means, so that processes with different counts weigh by their count. Each
    # process's own two-pass variance keeps Σx² accurate; float64 keeps the difference
    # Σx²/n - mean² accurate for activations whose mean is large against their spread.
    n = torch.full((1,), float(count), dtype=torch.float64, device=x.device)
    mean64, var64 = mean.double(), var.double()
    sums = torch.cat([n, n * mean64, n * (var64 + mean64 * mean64)])
    dist.all_reduce(sums, group=group)
    total = sums[0]
    mean64 = sums[1 : channels + 1] / total.clamp(min=1)
    var64 = (sums[channels + 1 :] / total.clamp(min=1) - mean64 * mean64).clamp(min=0)
    return mean64.to(stat_dtype), var64.to(stat_dtype), total.to(stat_dtype)


def _update_running(
    running_mean: torch.Tensor,
    running_var: torch.Tensor,
    mean: torch.Tensor,
    var: torch.Tensor,
    count: torch.Tensor,
    momentum: float,
) -> None:
    """running <- (1 - momentum)·running + momentum·batch, with the unbiased variance."""
    unbiased = var * (count / (count - 1).clamp(min=1))
    running_mean.mul_(1 - momentum).add_(mean.to(running_mean.dtype), alpha=momentum)
    running_var.mul_(1 - momentum).add_(unbiased.to(running_var.dtype), alpha=momentum)


def _normalise_(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    training: bool,
    momentum: float,
    eps: float,
    group: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """x <- BN(x) with scale `effective_scale(weight)`, in place; returns invstd and count.

    torch's own batch norm kernel writes its output over its input (`out=x`): one fused pass,
    statistics in float32 for half input, running statistics updated as nn.BatchNorm2d does.
    Synchronised statistics are computed first and then applied as fixed ones.
    """
    stat_dtype = torch.promote_types(x.dtype, torch.float32)
    scale, shift = effective_scale(weight.to(stat_dtype), eps), bias.to(stat_dtype)
    native = _dense(x)
    if training and group is None and native:
        saved_mean = x.new_empty(0, dtype=stat_dtype)
        saved_invstd = x.new_empty(0, dtype=stat_dtype)
        torch.ops.aten.native_batch_norm.out(
            x, scale, shift, running_mean, running_var, True, momentum, eps,
            out=x, save_mean=saved_mean, save_invstd=saved_invstd,
        )  # fmt: skip
        return saved_invstd, x.new_full((), float(x.numel() // x.shape[1]), dtype=stat_dtype)
    if training:
        mean, var, count = _batch_statistics(x, stat_dtype, group)
        if running_mean is not None and running_var is not None:
            _update_running(running_mean, running_var, mean, var, count, momentum)
    else:
        assert running_mean is not None
        assert running_var is not None
        mean, var = running_mean.to(stat_dtype), running_var.to(stat_dtype)
        count = x.new_ones((), dtype=stat_dtype)  # unused: no batch statistics
    invstd = torch.rsqrt(var + eps)
    if native:
        empty = x.new_empty(0, dtype=stat_dtype)
        torch.ops.aten.native_batch_norm.out(
            x, scale, shift, mean, var, False, 0.0, eps, out=x, save_mean=empty, save_invstd=empty
        )  # fmt: skip
    else:  # any strides: a plain element-wise op, which writes over its input correctly
        mult = scale * invstd
        torch.addcmul(_per_channel(shift - mean * mult, x), x, _per_channel(mult, x), out=x)
    return invstd, count


def _dense(x: torch.Tensor) -> bool:
    """Whether torch's batch norm kernel may write over `x` (it assumes a dense layout)."""
    formats = {4: torch.channels_last, 5: torch.channels_last_3d}
    return x.is_contiguous() or (
        x.dim() in formats and x.is_contiguous(memory_format=formats[x.dim()])
    )


class _InPlaceABNFunction(torch.autograd.Function):
    """BN + activation on `x` in place; saves only the output and per-channel values."""

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor,
        running_mean: torch.Tensor | None,
        running_var: torch.Tensor | None,
        training: bool,
        momentum: float,
        eps: float,
        activation: str,
        slope: float,
        group: Any,
    ) -> torch.Tensor:
        with _no_autocast(x.device.type):
            invstd, count = _normalise_(
                x, weight, bias, running_mean, running_var, training, momentum, eps, group
            )
            if activation == "leaky_relu":
                F.leaky_relu_(x, slope)
        ctx.mark_dirty(x)
        ctx.save_for_backward(x, invstd, count, weight, bias)
        # torch's documented way to keep non-tensors for backward; FunctionCtx declares none
        ctx.training = training  # type: ignore[attr-defined]
        ctx.eps = eps  # type: ignore[attr-defined]
        ctx.activation = activation  # type: ignore[attr-defined]
        ctx.slope = slope  # type: ignore[attr-defined]
        ctx.group = group  # type: ignore[attr-defined]
        return x

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_y: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        y, invstd, count, weight, bias = ctx.saved_tensors
        need_x, need_weight, need_bias = ctx.needs_input_grad[:3]
        with _no_autocast(y.device.type):
            xhat, dz = _recover(ctx, y, grad_y, weight, bias, invstd.dtype)
            mult = effective_scale(weight.to(invstd.dtype), ctx.eps) * invstd
            if ctx.training and ctx.group is None:  # torch's fused BN backward, on x̂
                zeros, ones = torch.zeros_like(invstd), torch.ones_like(invstd)
                grad_x, grad_weight, grad_bias = torch.ops.aten.native_batch_norm_backward(
                    dz, xhat, mult, None, None, zeros, ones, True, ctx.eps,
                    [need_x, need_weight, need_bias],
                )  # fmt: skip
            else:
                grad_x, grad_weight, grad_bias = _split_backward(
                    ctx, xhat, dz, count, mult, (need_x, need_weight, need_bias)
                )
        grad_x = grad_x.to(y.dtype) if need_x else None
        grad_weight = grad_weight.to(weight.dtype) if need_weight else None
        grad_bias = grad_bias.to(bias.dtype) if need_bias else None
        return (grad_x, grad_weight, grad_bias) + (None,) * 8


def _recover(
    ctx: Any,
    y: torch.Tensor,
    grad_y: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    stat_dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor]:
    """x̂ (by inverting activation and affine transform) and dL/dz, from the output alone.

    Both are new tensors, which the caller may overwrite (`y` and `grad_y` are left alone).
    """
    y_ = y.to(stat_dtype)
    scale = effective_scale(weight.to(stat_dtype), ctx.eps)
    inv_scale = _per_channel(1 / scale, y)
    minus_shift = _per_channel(-bias.to(stat_dtype) / scale, y)
    if ctx.activation == "leaky_relu":
        # z > 0 exactly where y > 0; z = 0 takes the slope, as torch's leaky ReLU backward does
        dz = torch.ops.aten.leaky_relu_backward(grad_y.to(stat_dtype), y_, ctx.slope, True)
        z = F.leaky_relu(y_, 1 / ctx.slope)  # the inverse of a leaky ReLU
        return torch.addcmul(minus_shift, z, inv_scale, out=z), dz
    dz = grad_y.to(stat_dtype, copy=True)
    return torch.addcmul(minus_shift, y_, inv_scale), dz


def _split_backward(
    ctx: Any,
    xhat: torch.Tensor,
    dz: torch.Tensor,
    count: torch.Tensor,
    mult: torch.Tensor,
    needs: tuple[bool, bool, bool],
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """BN backward in steps, for eval and for synchronised training: per-channel sums (all-
    reduced over the group for the input gradient), then, in place on `dz`,
    dL/dx = γ·invstd·(dz - mean(dz) - x̂·mean(dz·x̂)), `mult` = γ·invstd; in eval the
    statistics are constants and only the affine part remains. Weight and bias gradients
    are the local sums Σ dz·x̂ and Σ dz."""
    need_x, need_weight, need_bias = needs
    dims = _reduce_dims(dz)
    sync_x = need_x and ctx.training
    sum_dz = dz.sum(dims) if need_bias or sync_x else None
    sum_dz_xhat = (dz * xhat).sum(dims) if need_weight or sync_x else None
    if not need_x:
        return None, sum_dz_xhat, sum_dz
    if not ctx.training:
        return dz.mul_(_per_channel(mult, dz)), sum_dz_xhat, sum_dz
    assert sum_dz is not None
    assert sum_dz_xhat is not None
    sums = torch.cat([sum_dz, sum_dz_xhat])
    if ctx.group is not None:
        dist.all_reduce(sums, group=ctx.group)
    channels = sum_dz.numel()
    mean_dz = _per_channel(sums[:channels] / count, dz)
    minus_mean_dz_xhat = _per_channel(-sums[channels:] / count, dz)
    grad_x = dz.sub_(mean_dz).addcmul_(xhat, minus_mean_dz_xhat).mul_(_per_channel(mult, dz))
    return grad_x, sum_dz_xhat, sum_dz


def inplace_abn(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    *,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
    activation: str = "leaky_relu",
    activation_param: float = LEAKY_SLOPE,
    group: Any = None,
) -> torch.Tensor:
    """BN + activation computed in place on `x`, which is returned (the same tensor).

    Args:
        x: (N, C) or (N, C, *spatial); overwritten. Must not be a leaf that requires grad, nor
            a tensor that another operation saved for its backward.
        weight: (C,) BN scale γ; used as `effective_scale(weight, eps)`.
        bias: (C,) BN shift β.
        running_mean: (C,) updated in training, used in eval; None in training skips it.
        running_var: (C,) like running_mean, updated with the unbiased batch variance.
        training: use (and update) batch statistics, else the running ones.
        momentum: weight of the new batch in the running statistics.
        eps: added to the variance; also the smallest |scale|.
        activation: "leaky_relu" or "identity" (both invertible).
        activation_param: the leaky ReLU slope, > 0.
        group: a torch.distributed process group to synchronise statistics over, or None.

    Raises:
        ValueError: bad shapes, a non-invertible activation, or a single value per channel.
    """
    check_activation(activation, activation_param)
    if x.dim() < 2 or weight.shape != (x.shape[1],) or bias.shape != (x.shape[1],):
        raise ValueError(
            f"inplace_abn expects x of shape (N, C, ...) and weight, bias of shape (C,); got "
            f"x {tuple(x.shape)}, weight {tuple(weight.shape)}, bias {tuple(bias.shape)}"
        )
    if x.is_leaf and x.requires_grad:
        raise ValueError(
            "inplace_abn overwrites its input, which is a leaf tensor that requires grad; "
            "pass a non-leaf tensor (e.g. x.clone())"
        )
    if training and group is None and x.numel() // max(x.shape[1], 1) <= 1:
        raise ValueError(
            f"inplace_abn needs more than 1 value per channel in training, got input of "
            f"shape {tuple(x.shape)}"
        )
    if not training and (running_mean is None or running_var is None):
        raise ValueError("inplace_abn in eval mode needs running_mean and running_var")
    out: torch.Tensor = _InPlaceABNFunction.apply(
        x, weight, bias, running_mean, running_var, training, momentum, eps,
        activation, activation_param, group,
    )  # fmt: skip
    return out


def check_activation(activation: str, activation_param: float) -> None:
    if activation not in INVERTIBLE_ACTIVATIONS:
        raise ValueError(
            f"in-place ABN needs an invertible activation ({', '.join(INVERTIBLE_ACTIVATIONS)}), "
            f"got {activation!r}"
        )
    if activation == "leaky_relu" and not activation_param > 0:
        raise ValueError(
            f"in-place ABN needs a positive leaky ReLU slope to invert it, got {activation_param}"
        )
