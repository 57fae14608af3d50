"""ROIAlign on the CPU as one sparse-matrix product, over all pyramid levels at once.

`torchvision.ops.roi_align` computes each output bin as the mean of bilinear samples of the
feature map. That is a linear map from the features to the output, so it is a sparse matrix
W with 4 x sampling_ratio^2 entries per output bin (the four neighbours of each sample):

    out[(r, ph, pw), c] = sum_j W[(r, ph, pw), j] * features[j, c]

with the features of every level and image flattened channels-last into one (N, C) matrix.
Forward is W @ F, backward W^T @ grad (both CSR products). torchvision's CPU backward scatters
one bin at a time and was the largest single op of the tiny model's training step (about 15%
of it on one thread); the products are a few milliseconds.

The weights follow torchvision's kernel exactly (`roi_align_kernel.cpp`, `aligned=True` and
`False`, a fixed or adaptive sampling ratio, samples outside [-1, size] contribute nothing,
coordinates clamped at 0 and at size - 1), computed in float32 as it does; the sums run in
another order, so results agree to float rounding (tests/reference_model/test_roi_align.py).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


class _WeightedGather(torch.autograd.Function):
    """out[i] = sum_k weights[i, k] * features[index[i, k]]: W @ F with W given row by row.

    Forward and backward are both `embedding_bag` sums (fast on the CPU): the backward one
    runs over W^T, the entries sorted by feature row.
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        features: torch.Tensor,
        index: torch.Tensor,
        weights: torch.Tensor,
    ) -> torch.Tensor:
        ctx.save_for_backward(index, weights)
        ctx.rows = features.shape[0]  # type: ignore[attr-defined]
        return F.embedding_bag(index, features, per_sample_weights=weights, mode="sum")

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor
    ) -> tuple[torch.Tensor, None, None]:
        index, weights = ctx.saved_tensors  # type: ignore[attr-defined]
        rows: int = ctx.rows  # type: ignore[attr-defined]
        flat = index.reshape(-1)
        order = torch.argsort(flat)
        offsets = torch.zeros(rows, dtype=torch.int64, device=flat.device)
        offsets[1:] = torch.bincount(flat, minlength=rows)[:-1].cumsum(0)
        out = F.embedding_bag(
            order // index.shape[1],
            grad.contiguous(),
            offsets,
            per_sample_weights=weights.reshape(-1)[order],
            mode="sum",
        )
        return out, None, None


def _axis_weights(
    start: torch.Tensor, bin_size: torch.Tensor, grid: torch.Tensor, pooled: int, size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per ROI, bin and sample along one axis: (low, high) indices, their weights, validity.

    Shapes (R, pooled, S) where S is the largest sampling grid; samples past a ROI's own
    grid are marked invalid.
    """
    s = int(grid.max()) if grid.numel() else 1
    p = torch.arange(pooled, dtype=torch.float32)[None, :, None]
    i = torch.arange(s, dtype=torch.float32)[None, None, :]
    g = grid.to(torch.float32)[:, None, None]
    # torchvision: start + p * bin + (i + 0.5) * bin / grid, in this order, in float32
    coord = (
        start[:, None, None] + p * bin_size[:, None, None] + (i + 0.5) * bin_size[:, None, None] / g
    )
    valid = (i < g) & (coord >= -1.0) & (coord <= size)
    coord = coord.clamp(min=0)
    low = coord.to(torch.int64)
    at_end = low >= size - 1
    low = torch.where(at_end, size - 1, low)
    high = torch.where(at_end, size - 1, low + 1)
    coord = torch.where(at_end, low.to(torch.float32), coord)
    frac = coord - low.to(torch.float32)
    return low, high, 1.0 - frac, frac, valid


def roi_align(
    features: list[torch.Tensor],
    rois: torch.Tensor,
    levels: torch.Tensor,
    scales: list[float],
    output_size: int,
    sampling_ratio: int,
    *,
    aligned: bool = True,
    pool: int = 1,
) -> torch.Tensor:
    """(R, C, size, size) ROIAlign of each ROI from its level, as `torchvision.ops.roi_align`;
    with `pool` > 1, (R, C, size / pool, size / pool): that output average-pooled over
    `pool` x `pool` blocks, as `F.avg_pool2d(roi_align(...), pool)` but in the same gather.

    Args:
        features: per level (B, C, H_l, W_l), same B, C and dtype.
        rois: (R, 5) image index, x0, y0, x1, y1 in image coordinates.
        levels: (R,) int64 index into `features` of each ROI.
        scales: per level, the spatial scale (1 / stride).
        output_size: the pooled height and width.
        sampling_ratio: samples per bin along each axis; <= 0: ceil(roi size / output_size).
        aligned: shift by half a pixel (Detectron2's correction), as torchvision's flag.
        pool: a divisor of `output_size`. A block of `pool` x `pool` bins is one bin of
            `size / pool` with `pool` times the sampling grid along each axis: the same sample
            points (start + (pool p + q) bin + (i + 0.5) bin / g = start + p (pool bin) +
            (g q + i + 0.5) (pool bin) / (pool g)), each weighted 1 / (pool g)^2. So the box
            branch's 7 x 7 input costs one gather of as many entries as the 14 x 14 one,
            without the pooling pass and with a quarter of the output to transpose.
    """
    if pool < 1 or output_size % pool:
        raise ValueError(f"pool must divide the output size {output_size}, got {pool}")
    if not features:
        raise ValueError("roi_align needs at least one feature level")
    channels = features[0].shape[1]
    dtype = features[0].dtype
    # float32 (as torchvision's under autocast), or float64 for float64 input (gradcheck)
    compute = torch.float64 if dtype == torch.float64 else torch.float32
    r = rois.shape[0]
    if r == 0:
        return features[0].new_zeros(0, channels, output_size // pool, output_size // pool)
    # Channels-last rows of every level, one after the other: (sum_l B * H_l * W_l, C).
    flat = torch.cat([f.to(compute).permute(0, 2, 3, 1).reshape(-1, channels) for f in features])
    offsets = [0]
    for f in features[:-1]:
        offsets.append(offsets[-1] + f.shape[0] * f.shape[2] * f.shape[3])
    rois = rois.detach().to(torch.float32)
    levels = levels.to(torch.int64)
    heights = torch.tensor([f.shape[2] for f in features])[levels]
    widths = torch.tensor([f.shape[3] for f in features])[levels]
    scale = torch.tensor(scales, dtype=torch.float32)[levels]
    base = torch.tensor(offsets, dtype=torch.int64)[levels] + rois[:, 0].to(torch.int64) * (
        heights * widths
    )
    offset = 0.5 if aligned else 0.0
    x0, y0 = rois[:, 1] * scale - offset, rois[:, 2] * scale - offset
    x1, y1 = rois[:, 3] * scale - offset, rois[:, 4] * scale - offset
    roi_w, roi_h = x1 - x0, y1 - y0
    if not aligned:
        roi_w, roi_h = roi_w.clamp(min=1.0), roi_h.clamp(min=1.0)
    if sampling_ratio > 0:
        grid_h = torch.full((r,), sampling_ratio, dtype=torch.int64)
        grid_w = grid_h
    else:
        grid_h = torch.ceil(roi_h / output_size).to(torch.int64)
        grid_w = torch.ceil(roi_w / output_size).to(torch.int64)
    output_size //= pool
    grid_h, grid_w = grid_h * pool, grid_w * pool
    bin_w, bin_h = roi_w / output_size, roi_h / output_size
    count = (grid_h * grid_w).clamp(min=1).to(torch.float32)
    # Each level has its own size: weights per level group, but one matrix in the end.
    k = None
    index = weights = torch.empty(0)
    for level in torch.unique(levels).tolist():
        chosen = torch.nonzero(levels == level).flatten()
        h, w = features[level].shape[2], features[level].shape[3]
        yl, yh, wy_lo, wy_hi, vy = _axis_weights(
            y0[chosen], bin_h[chosen], grid_h[chosen], output_size, h
        )
        xl, xh, wx_lo, wx_hi, vx = _axis_weights(
            x0[chosen], bin_w[chosen], grid_w[chosen], output_size, w
        )
        n, sy, sx = chosen.numel(), yl.shape[2], xl.shape[2]
        if k is None:  # entries per output bin: 4 neighbours x the largest sampling grid
            k = 4 * int(grid_h.max()) * int(grid_w.max())
            index = torch.zeros(r, output_size, output_size, k, dtype=torch.int64)
            weights = torch.zeros(r, output_size, output_size, k)
        # (n, ph, pw, iy, ix) for each of the four neighbours, in torchvision's order
        shape = (n, output_size, output_size, sy, sx)

        def pick(
            a: torch.Tensor, b: torch.Tensor, w: int = w, shape: tuple[int, ...] = shape
        ) -> torch.Tensor:
            return (a[:, :, None, :, None] * w + b[:, None, :, None, :]).expand(shape)

        def weigh(a: torch.Tensor, b: torch.Tensor, shape: tuple[int, ...] = shape) -> torch.Tensor:
            return (a[:, :, None, :, None] * b[:, None, :, None, :]).expand(shape)

        valid = (vy[:, :, None, :, None] & vx[:, None, :, None, :]).expand(shape)
        norm = count[chosen][:, None, None, None, None, None]
        idx = torch.stack([pick(yl, xl), pick(yl, xh), pick(yh, xl), pick(yh, xh)], -1)
        wts = torch.stack(
            [weigh(wy_lo, wx_lo), weigh(wy_lo, wx_hi), weigh(wy_hi, wx_lo), weigh(wy_hi, wx_hi)],
            -1,
        )
        wts = (wts / norm).where(valid[..., None], 0.0)
        used = 4 * sy * sx
        idx = idx + base[chosen][:, None, None, None, None, None]
        index[chosen, :, :, :used] = idx.reshape(n, output_size, output_size, used)
        weights[chosen, :, :, :used] = wts.reshape(n, output_size, output_size, used)
    with torch.autocast("cpu", enabled=False):
        out: torch.Tensor = _WeightedGather.apply(
            flat, index.reshape(-1, k or 1), weights.reshape(-1, k or 1).to(compute)
        )
    out = out.reshape(r, output_size, output_size, channels).permute(0, 3, 1, 2)
    return out.contiguous().to(dtype)
