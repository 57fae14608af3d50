"""§3.4's semantic loss from the stride-4 logits, on the CPU in one pass per pixel (numba).

The loss is defined on the image: the (B, C, H/4, W/4) logits are upsampled bilinearly to the
(padded) input size, each image's pixels get the log-loss of their class (`losses.ohem_loss`:
the mean of the worst `fraction` of them, ignored pixels counted as 0; or
`losses.cross_entropy_loss`: the mean over the labelled ones), and the batch loss is the mean
over the images. Written as PyTorch ops, that is a dozen passes over (B, C, H, W) tensors
(upsampling, casts, log-softmax, gathers, their zero-filled gradients and the upsampling's
backward): about a fifth of the tiny model's CPU training step (benchmark/README.md, "Training
step on the CPU"). Here the forward computes each pixel's C upsampled logits from the four
neighbours, their log-sum-exp and its loss in one loop, and the backward revisits only the
pixels that carry a gradient (a quarter of them under OHEM), scattering softmax - one-hot
into the four neighbours. The same numbers to float rounding (float32 throughout, the
upsampling weights computed as PyTorch computes them): tests/reference_model/
test_upsampled_loss.py checks the loss and the gradients against the PyTorch ops.

`upsampled_semantic_loss` picks this path for logits on the CPU and the PyTorch ops elsewhere.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from numba import njit
from torch.nn import functional as F

from .config import SemanticConfig
from .data.categories import IGNORE_INDEX
from .losses import image_loss, semantic_loss

OUTSIDE = -1.0  # the per-pixel loss of the padding beyond an image: below any loss (>= 0)


def source_index(out_size: int, in_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear upsampling along one axis (align_corners=False, an output size given), as
    PyTorch's CPU kernel computes it: per output index the low and high source indices and
    the high one's weight (the scale in float32, the source coordinate from it in double,
    then float32, clamped at 0; ATen's `area_pixel_compute_source_index`)."""
    scale = np.float64(np.float32(in_size) / np.float32(out_size))
    dst = np.arange(out_size, dtype=np.float64)
    src = np.maximum((scale * (dst + 0.5) - 0.5).astype(np.float32), np.float32(0.0))
    low = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    high = low + (low < in_size - 1)
    frac = np.clip(src - low.astype(np.float32), np.float32(0.0), np.float32(1.0))
    return low, high, frac.astype(np.float32)


@njit(cache=True, nogil=True)
def _logits_at(x, b, r0, r1, wr1, c0, c1, wc1, z):  # type: ignore[no-untyped-def]
    """The upsampled logits of one pixel into z: x is (B, h, w, C) float32."""
    wr0 = np.float32(1.0) - wr1
    wc0 = np.float32(1.0) - wc1
    for c in range(z.shape[0]):
        z[c] = wr0 * (wc0 * x[b, r0, c0, c] + wc1 * x[b, r0, c1, c]) + wr1 * (
            wc0 * x[b, r1, c0, c] + wc1 * x[b, r1, c1, c]
        )


@njit(cache=True, nogil=True)
def _forward(x, target, heights, widths, rows, cols, ignore, loss, lse):  # type: ignore[no-untyped-def]
    """Per pixel of each image's crop: log-sum-exp of its upsampled logits into `lse` and its
    log-loss into `loss` (0 where ignored, OUTSIDE beyond the crop). Returns -1 or, for a
    class index out of range, the flat index of the first such pixel.

    Each output row first blends its two source rows (w x C values, shared by its pixels),
    then each pixel blends two columns of that: the upsampling's sums in another order than
    `_logits_at`'s, equal to float rounding."""
    r_low, r_high, r_frac = rows
    c_low, c_high, c_frac = cols
    n_classes = x.shape[3]
    row = np.empty((x.shape[2], n_classes), np.float32)
    z = np.empty(n_classes, np.float32)
    one = np.float32(1.0)
    for b in range(x.shape[0]):
        for i in range(loss.shape[1]):
            if i >= heights[b]:
                loss[b, i, :] = OUTSIDE
                continue
            r0, r1, wr1 = r_low[i], r_high[i], r_frac[i]
            wr0 = one - wr1
            for k in range(x.shape[2]):
                for c in range(n_classes):
                    row[k, c] = wr0 * x[b, r0, k, c] + wr1 * x[b, r1, k, c]
            for j in range(loss.shape[2]):
                if j >= widths[b]:
                    loss[b, i, j] = OUTSIDE
                    continue
                c0, c1, wc1 = c_low[j], c_high[j], c_frac[j]
                wc0 = one - wc1
                top = np.float32(-np.inf)
                for c in range(n_classes):
                    v = wc0 * row[c0, c] + wc1 * row[c1, c]
                    z[c] = v
                    top = max(top, v)
                total = np.float32(0.0)
                for c in range(n_classes):
                    total += math.exp(z[c] - top)
                value = top + np.float32(math.log(total))
                lse[b, i, j] = value
                t = target[b, i, j]
                if t == ignore:
                    loss[b, i, j] = 0.0
                elif t < 0 or t >= n_classes:
                    return (b * loss.shape[1] + i) * loss.shape[2] + j
                else:
                    loss[b, i, j] = value - z[t]
    return -1


@njit(cache=True, nogil=True)
def _backward(x, target, weight, lse, rows, cols, ignore, grad):  # type: ignore[no-untyped-def]
    """grad (B, h, w, C) += the upsampling's transpose of weight * (softmax - one-hot), over
    the labelled pixels whose weight is not zero (an ignored pixel's loss is the constant 0,
    even where OHEM picked it)."""
    r_low, r_high, r_frac = rows
    c_low, c_high, c_frac = cols
    n_classes = x.shape[3]
    z = np.empty(n_classes, np.float32)
    for b in range(x.shape[0]):
        for i in range(weight.shape[1]):
            r0, r1, wr1 = r_low[i], r_high[i], r_frac[i]
            wr0 = np.float32(1.0) - wr1
            for j in range(weight.shape[2]):
                w = weight[b, i, j]
                t = target[b, i, j]
                if w == 0.0 or t == ignore:
                    continue
                c0, c1, wc1 = c_low[j], c_high[j], c_frac[j]
                wc0 = np.float32(1.0) - wc1
                _logits_at(x, b, r0, r1, wr1, c0, c1, wc1, z)
                for c in range(n_classes):
                    z[c] = w * np.float32(math.exp(z[c] - lse[b, i, j]))
                z[t] -= w
                for c in range(n_classes):
                    g = z[c]
                    grad[b, r0, c0, c] += wr0 * wc0 * g
                    grad[b, r0, c1, c] += wr0 * wc1 * g
                    grad[b, r1, c0, c] += wr1 * wc0 * g
                    grad[b, r1, c1, c] += wr1 * wc1 * g


class _UpsampledLoss(torch.autograd.Function):
    """The batch's semantic loss from (B, C, h, w) logits (see the module's docstring)."""

    @staticmethod
    def forward(
        ctx: Any,
        logits: torch.Tensor,
        size: tuple[int, int],
        targets: list[torch.Tensor],
        fraction: float | None,
    ) -> torch.Tensor:
        batch, _, h, w = logits.shape
        height, width = size
        if len(targets) != batch:
            raise ValueError(f"{len(targets)} semantic targets for a batch of {batch} logits")
        for b, t in enumerate(targets):
            if t.dim() != 2 or t.shape[0] > height or t.shape[1] > width:
                raise ValueError(
                    f"semantic target {b} has shape {tuple(t.shape)}: expected (h, w) within "
                    f"the padded input's {height} x {width}"
                )
        x = logits.detach().float().permute(0, 2, 3, 1).contiguous().numpy()
        target = np.full((batch, height, width), IGNORE_INDEX, dtype=np.int64)
        for b, t in enumerate(targets):
            target[b, : t.shape[0], : t.shape[1]] = t.numpy()
        heights = np.array([t.shape[0] for t in targets], dtype=np.int64)
        widths = np.array([t.shape[1] for t in targets], dtype=np.int64)
        rows, cols = source_index(height, h), source_index(width, w)
        loss = np.empty((batch, height, width), dtype=np.float32)
        lse = np.zeros((batch, height, width), dtype=np.float32)
        bad = _forward(x, target, heights, widths, rows, cols, IGNORE_INDEX, loss, lse)
        if bad >= 0:
            b, rest = divmod(int(bad), height * width)
            i, j = divmod(rest, width)
            raise IndexError(
                f"semantic target {int(target[b, i, j])} at image {b}, pixel ({i}, {j}) is not "
                f"a class index (0..{logits.shape[1] - 1}) or {IGNORE_INDEX}"
            )
        per_pixel = torch.from_numpy(loss)
        weight = torch.zeros(batch, height, width)
        values = []
        for b in range(batch):
            crop = per_pixel[b, : heights[b], : widths[b]]
            if fraction is not None:  # OHEM: the worst ceil(fraction * h_b * w_b) pixels
                k = math.ceil(crop.numel() * fraction)
                top = crop.flatten().topk(k, sorted=False)
                values.append(top.values.mean())
                chosen = torch.zeros(crop.numel())
                chosen[top.indices] = 1.0 / (k * batch)
                weight[b, : heights[b], : widths[b]] = chosen.view(crop.shape)
            else:  # the mean over the labelled pixels (0, without a gradient, if none)
                labelled = torch.from_numpy(target[b, : heights[b], : widths[b]] != IGNORE_INDEX)
                n = int(labelled.sum())
                values.append(crop[labelled].sum() / n if n else crop.new_zeros(()))
                if n:
                    weight[b, : heights[b], : widths[b]][labelled] = 1.0 / (n * batch)
        ctx.saved = (x, target, weight.numpy(), lse, rows, cols, logits.dtype)
        return torch.stack(values).mean()

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, target, weight, lse, rows, cols, dtype = ctx.saved
        grad = np.zeros_like(x)
        scaled = (weight * np.float32(grad_output.item())).astype(np.float32)
        _backward(x, target, scaled, lse, rows, cols, IGNORE_INDEX, grad)
        out = torch.from_numpy(grad).permute(0, 3, 1, 2).to(dtype)
        return out, None, None, None


def upsampled_semantic_loss(
    logits: torch.Tensor,
    size: tuple[int, int] | torch.Size,
    targets: list[torch.Tensor],
    config: SemanticConfig,
) -> torch.Tensor:
    """The semantic loss of (B, C, H/4, W/4) `logits` upsampled to `size` (the padded input),
    against B targets of (h_i, w_i) class indices or 255 (`losses.semantic_loss`): on the
    CPU by the one-pass kernels, elsewhere by the PyTorch ops."""
    height, width = int(size[0]), int(size[1])
    if logits.device.type != "cpu":
        return ops_semantic_loss(logits, (height, width), targets, config)
    if config.loss not in ("ohem", "cross_entropy"):
        image_loss(config)  # raises the error naming the setting
    fraction = config.ohem_fraction if config.loss == "ohem" else None
    out: torch.Tensor = _UpsampledLoss.apply(logits, (height, width), targets, fraction)
    return out


def ops_semantic_loss(
    logits: torch.Tensor,
    size: tuple[int, int] | torch.Size,
    targets: list[torch.Tensor],
    config: SemanticConfig,
) -> torch.Tensor:
    """The same loss by PyTorch ops: `F.interpolate` to `size`, then `losses.semantic_loss`
    (the path off the CPU, and the reference the kernels are compared with)."""
    full = F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)
    return semantic_loss(full, targets, image_loss(config))
