"""In-place activated batch norm (iABN; Rota Bulò et al., CVPR 2018, the paper's [46], §3.1).

`InPlaceABN` computes batch norm followed by leaky ReLU (or no activation) as one autograd
function that overwrites its input with its output and keeps nothing else.

What is saved and what is recomputed
    Forward saves the output `y` (the input's own storage, overwritten: `ctx.mark_dirty`),
    the per-channel `invstd = 1 / sqrt(var + eps)`, the count of values per channel (a
    scalar), and references to the weight and bias parameters (no copies). The mean is not
    needed. Backward recovers what a plain BN + activation keeps:
    the pre-activation `z = act⁻¹(y)` (leaky ReLU is invertible for a positive slope, which is
    why the paper uses slope 0.01 instead of ReLU), the activation's gradient from the sign of
    `y`, and the normalised input `x̂ = (z - β) / γ` by inverting the affine transform. The
    per-channel sums Σ dz and Σ dz·x̂ then give every gradient, as in standard BN backward
    (torch's own BN backward kernel runs on x̂ when nothing is synchronised).

Memory it saves
    A conv -> BN -> activation -> conv chain stores, per layer, the BN input (for BN
    backward), the activation input or output, and the next conv's input. With an out-of-place
    activation (`ABN`) these are three tensors of the layer's size, with an in-place activation
    (the iABN paper's "standard BN" baseline) two, with iABN one: the next conv saves the very
    tensor iABN saved. Hence the paper's "up to 50%" (vs BN + in-place activation). A ResNet
    bottleneck of width c (identity shortcut) saves less: its BN before the residual addition
    has no activation to fold in, and the sum is stored by the activation after it, so the
    block keeps activations of 10c channels with iABN against 12c with BN + in-place
    activation and 14c with `ABN`. `benchmark/test_iabn_memory.py` measures both: 50% saved
    on a conv chain, 19% (32% against `ABN`) on ResNet-50. The price is a recomputation in
    backward (three element-wise passes before torch's own BN backward kernel) and two or
    three transient full-size float32 buffers while one layer's backward runs.

Weight near zero
    Inverting the affine transform divides by the scale, which must not be zero. The original
    implementation (mapillary/inplace_abn) scales by `|γ| + eps`, which flips the sign of every
    channel whose γ is negative (trained BN weights can be), so weights trained with plain BN
    (torchvision's ImageNet models) could not be loaded into it unchanged. We scale by
    `sign(γ)·max(|γ|, eps)` (sign(0) = +1): exactly BN + activation for |γ| >= eps, so `ABN`
    and `InPlaceABN` state dicts are interchangeable, and never closer to zero than `eps`. The
    gradient of γ passes straight through the clamp (it is Σ dz·x̂ for every γ), so a weight
    that reaches the clamp can leave it again. A checkpoint of the original implementation
    loads exactly after `weight <- |weight| + eps`. In float32 a γ at the clamp amplifies the
    rounding error of x̂ by |β| / eps; the input gradient, which is multiplied by γ again, is
    not affected, the weight gradient of such a channel is noisy.

Statistics, precision, devices
    Batch mean and biased variance are computed in float32 (float64 for float64 input) also for
    float16/bfloat16 input (autocast is switched off inside): the output is written in the
    input's dtype, the per-channel maths and the backward's buffers are float32, the input
    gradient is returned in the input's dtype. Running statistics follow
    `nn.BatchNorm2d` exactly: momentum, or the cumulative average when momentum is None,
    unbiased variance for `running_var`. In eval mode the running statistics are used and the
    backward is the affine one. Inputs are (N, C) or (N, C, *spatial) of any layout/device.

`InPlaceABNSync` all-reduces the per-channel count, Σx and Σx² (float64, so counts and batch
sizes may differ between processes) in forward and Σ dz, Σ dz·x̂ in backward; weight and bias
gradients stay local, as in `nn.SyncBatchNorm` (DDP averages them). Every process of the
group must call it the same number of times, in forward and in backward.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from reference_model.modules.inplace_abn_function import (
    INVERTIBLE_ACTIVATIONS,
    check_activation,
    effective_scale,
    inplace_abn,
)
from reference_model.modules.norm_act import ABN, LEAKY_SLOPE

__all__ = [
    "InPlaceABN",
    "InPlaceABNSync",
    "convert_inplace_abn",
    "effective_scale",
    "inplace_abn",
]

log = logging.getLogger(__name__)


class InPlaceABN(ABN):
    """`ABN` (BN + leaky ReLU 0.01) computed in place: same constructor, parameters, buffers.

    The forward overwrites its input and returns it; see the module docstring for what is
    saved, the weight-near-zero rule and the statistics. Accepts (N, C) and (N, C, *spatial).
    The activation must be invertible: "leaky_relu" (slope > 0) or "identity".
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        activation: str = "leaky_relu",
        activation_param: float = LEAKY_SLOPE,
    ) -> None:
        check_activation(activation, activation_param)
        super().__init__(
            num_features,
            eps=eps,
            momentum=momentum,
            activation=activation,
            activation_param=activation_param,
        )

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2 or input.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}) expects input of shape "
                f"(N, {self.num_features}, ...), got {tuple(input.shape)}"
            )

    def _process_group(self) -> Any:
        """The group to synchronise batch statistics over; None: this process alone."""
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average, as nn.BatchNorm2d
                momentum = 1.0 / float(self.num_batches_tracked)
        batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        keep_running = not self.training or self.track_running_stats
        return inplace_abn(
            x,
            self.weight,
            self.bias,
            self.running_mean if keep_running else None,
            self.running_var if keep_running else None,
            training=batch_stats,
            momentum=momentum,
            eps=self.eps,
            activation=self.activation,
            activation_param=self.activation_param,
            group=self._process_group() if batch_stats else None,
        )


class InPlaceABNSync(InPlaceABN):
    """`InPlaceABN` with batch statistics synchronised over a torch.distributed group.

    In training, the per-channel count, Σx and Σx² are all-reduced in forward and Σ dz,
    Σ dz·x̂ in backward, so the result equals `InPlaceABN` on the concatenation of every
    process's batch (whose sizes may differ). Falls back to `InPlaceABN` when torch.distributed
    is not initialised or the group has one process; eval mode uses the running statistics.

    Args:
        group: the process group; None means the default (world) group.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        activation: str = "leaky_relu",
        activation_param: float = LEAKY_SLOPE,
        group: Any = None,
    ) -> None:
        super().__init__(
            num_features,
            eps=eps,
            momentum=momentum,
            activation=activation,
            activation_param=activation_param,
        )
        self.group = group

    def _process_group(self) -> Any:
        if not (dist.is_available() and dist.is_initialized()):
            return None
        group = dist.group.WORLD if self.group is None else self.group
        if group == dist.GroupMember.NON_GROUP_MEMBER:
            raise ValueError(f"{type(self).__name__}: this process is not a member of its group")
        return group if dist.get_world_size(group) > 1 else None


def convert_inplace_abn(module: nn.Module, *, sync: bool = False, group: Any = None) -> nn.Module:
    """Replace every `ABN` in `module` by `InPlaceABN` (or `InPlaceABNSync` when `sync`).

    Like `nn.SyncBatchNorm.convert_sync_batchnorm`: the new modules share the parameters and
    buffers of the old ones (an optimizer built before keeps working, requires_grad and
    device are kept), and their train/eval mode. An `ABN` with a non-invertible activation
    ("relu") stays as it is, with a warning. Convert before wrapping the model in DDP.

    Args:
        module: the model (or a single `ABN`); changed in place.
        sync: convert to `InPlaceABNSync` instead of `InPlaceABN`.
        group: the process group of `InPlaceABNSync` (None: the world group).

    Returns:
        The converted module: `module` itself, or its replacement when `module` is an `ABN`.
    """
    target = InPlaceABNSync if sync else InPlaceABN
    if isinstance(module, ABN):
        return _convert_one(module, target, group)
    for name, child in module.named_children():
        converted = convert_inplace_abn(child, sync=sync, group=group)
        if converted is not child:
            module.add_module(name, converted)
    return module


def _convert_one(module: ABN, target: type[InPlaceABN], group: Any) -> nn.Module:
    if type(module) is target:
        if isinstance(module, InPlaceABNSync):
            module.group = group
        return module
    if module.activation not in INVERTIBLE_ACTIVATIONS:
        log.warning("kept %r: in-place ABN needs an invertible activation", module)
        return module
    kwargs = {"group": group} if target is InPlaceABNSync else {}
    new = target(
        module.num_features,
        eps=module.eps,
        momentum=module.momentum,  # type: ignore[arg-type]  # None (cumulative) is allowed
        activation=module.activation,
        activation_param=module.activation_param,
        **kwargs,
    )
    new.weight, new.bias = module.weight, module.bias
    new.running_mean, new.running_var = module.running_mean, module.running_var
    new.num_batches_tracked = module.num_batches_tracked
    new.track_running_stats = module.track_running_stats
    new.train(module.training)
    return new
