"""Merge accumulators across torch.distributed processes (torch is imported only here, lazily).

Each rank evaluates its shard of images. The sums (PQ per-class state, the IoU histogram, the
sums at each IoU threshold, the Boundary PQ sums, the error cause counts, the mIoU confusion
matrix) are added with `all_reduce` (on the GPU for NCCL, on the CPU for gloo); the small
per-image PQ states and the mask AP images (compressed RLEs) are gathered in rank order.
Every rank ends with the whole dataset's accumulator.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from .accumulator import PanopticAccumulator
from .boundary import DEFAULT_DILATION_RATIO
from .mask_ap import MaskAP
from .miou import MiouAccumulator
from .run import RunAccumulator


def _dist() -> Any:
    """torch.distributed, checked to be initialised."""
    try:
        import torch.distributed as dist
    except ImportError:
        raise RuntimeError("merging across processes needs torch (torch.distributed)") from None
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError("torch.distributed is not initialised (call init_process_group)")
    return dist


def _sum(array: np.ndarray, group: Any) -> np.ndarray:
    """`array` summed over the ranks of `group` (same dtype and shape)."""
    import torch

    dist = _dist()
    device = torch.device("cpu")
    if dist.get_backend(group) == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    tensor = torch.from_numpy(np.ascontiguousarray(array).copy()).to(device)
    dist.all_reduce(tensor, group=group)
    return np.ascontiguousarray(tensor.cpu().numpy(), dtype=array.dtype)


def _gather(value: Any, group: Any) -> list[Any]:
    """`value` of every rank of `group`, in rank order."""
    dist = _dist()
    parts: list[Any] = [None] * dist.get_world_size(group)
    dist.all_gather_object(parts, value, group=group)
    return parts


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
    _dist()
    merged = PanopticAccumulator(
        accumulator.categories,
        mode=accumulator.mode,
        n_bins=accumulator.n_bins,
        iou_thresholds=accumulator.iou_thresholds,
        boundary=accumulator.dilation_ratio is not None,
        dilation_ratio=accumulator.dilation_ratio or DEFAULT_DILATION_RATIO,
    )
    merged.class_sums = _sum(accumulator.class_sums, group)  # (C, 6) float64
    merged.histogram = _sum(accumulator.histogram, group)  # (C, n_bins) int64
    merged.ladder = _sum(accumulator.ladder, group)  # (C, T, 4) float64
    merged.boundary_sums = _sum(accumulator.boundary_sums, group)  # (C, 4) float64
    merged.error_counts = _sum(accumulator.error_counts, group)  # (C, K) int64
    if gather_images:
        for part in _gather(accumulator.images, group):
            merged.images.extend(part)
    return merged


def all_reduce_miou(accumulator: MiouAccumulator, *, group: Any = None) -> MiouAccumulator:
    """A new mIoU accumulator holding the confusion matrices of all ranks, added."""
    counts = np.array([accumulator.n_images], dtype=np.int64)
    matrix, n_images = _sum(accumulator.confusion, group), int(_sum(counts, group)[0])
    n, ignore, ids = accumulator.num_classes, accumulator.ignore_index, accumulator.category_ids
    merged = MiouAccumulator(n, ignore_index=ignore, category_ids=ids)
    merged.add(matrix, n_images)
    return merged


def all_gather_mask_ap(accumulator: MaskAP, *, group: Any = None) -> MaskAP:
    """A new mask AP accumulator holding the images of all ranks (rank order)."""
    merged = MaskAP(accumulator.category_ids, max_detections=accumulator.max_detections)
    for part in _gather(accumulator, group):
        merged.merge(part)
    return merged


def all_reduce_run(accumulator: RunAccumulator, *, group: Any = None) -> RunAccumulator:
    """A new run accumulator holding every rank's images: PQ, and mIoU and mask AP if on."""
    merged = copy.copy(accumulator)  # every part is replaced by its merged twin below
    merged.panoptic = all_reduce_accumulator(accumulator.panoptic, group=group)
    if accumulator.miou is not None:
        merged.miou = all_reduce_miou(accumulator.miou, group=group)
    if accumulator.mask_ap is not None:
        merged.mask_ap = all_gather_mask_ap(accumulator.mask_ap, group=group)
    return merged
