"""Merge accumulators across torch.distributed processes (torch is imported only here, lazily).

Each rank evaluates its shard of images; `all_reduce_accumulator` sums the per-class state
with `all_reduce` (on the GPU for NCCL, on the CPU for gloo) and gathers the small per-image
states in rank order, so every rank ends with the whole dataset's accumulator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .accumulator import PanopticAccumulator


def all_reduce_accumulator(
    accumulator: PanopticAccumulator, *, group: Any = None, gather_images: bool = True
) -> PanopticAccumulator:
    """A new accumulator holding the sum of `accumulator` over all ranks of `group`.

    Args:
        accumulator: this rank's accumulator (left unchanged).
        group: the process group (default: the world).
        gather_images: also gather the per-image states (needed for per-image results and the
            bootstrap); without it the per-image list of the result is empty.

    Raises:
        RuntimeError: torch.distributed is not available or not initialised.
    """
    try:
        import torch
        import torch.distributed as dist
    except ImportError:
        raise RuntimeError("all_reduce_accumulator needs torch (torch.distributed)") from None
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError("torch.distributed is not initialised (call init_process_group)")
    device = torch.device("cpu")
    if dist.get_backend(group) == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    sums = torch.from_numpy(accumulator.class_sums.copy()).to(device)  # (C, 6) float64
    hist = torch.from_numpy(accumulator.histogram.copy()).to(device)  # (C, n_bins) int64
    dist.all_reduce(sums, group=group)
    dist.all_reduce(hist, group=group)
    merged = PanopticAccumulator(
        accumulator.categories, mode=accumulator.mode, n_bins=accumulator.n_bins
    )
    merged.class_sums = np.ascontiguousarray(sums.cpu().numpy(), dtype=np.float64)
    merged.histogram = np.ascontiguousarray(hist.cpu().numpy(), dtype=np.int64)
    if gather_images:
        parts: list[Any] = [None] * dist.get_world_size(group)
        dist.all_gather_object(parts, accumulator.images, group=group)
        merged.images = [stats for part in parts for stats in part]
    return merged
