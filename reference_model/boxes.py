"""Box matching and sampling shared by the RPN and the ROI head (Faster / Mask R-CNN [42, 19]).

Boxes are (N, 4) float xyxy in pixels. IoUs come from `torchvision.ops.box_iou`; the matching
works through the ground truth in chunks so that the (anchors x boxes) IoU matrix of a
2048 x 4096 training image (about 2 M anchors) never exists whole. `BoxCoder` is the
(dx, dy, dw, dh) parametrisation of §3.2 (torchvision keeps its own in a private module).
"""

from __future__ import annotations

import math

import torch
from torchvision.ops import box_area, box_iou

IGNORE = -1.0  # label of an anchor / proposal that takes no part in the loss
_CHUNK = 16  # ground-truth boxes per IoU block
# Faster R-CNN's clamp of the predicted log-scale: no box grows beyond 1000/16 times its anchor.
BOX_SCALE_CLAMP = math.log(1000.0 / 16)


class BoxCoder:
    """Box deltas relative to reference boxes (§3.2): centre offsets in units of the reference's
    size and log size ratios, each multiplied by its weight (wx, wy, ww, wh).

    The arithmetic is torchvision's (`models.detection._utils.BoxCoder`) operation for
    operation, so that both give the same bits (tests/reference_model/test_boxes.py).
    """

    def __init__(
        self, weights: tuple[float, float, float, float], scale_clamp: float = BOX_SCALE_CLAMP
    ) -> None:
        self.weights = weights
        self.scale_clamp = scale_clamp

    def encode_single(self, boxes: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """(N, 4) deltas that take each `reference` box to the matching one of `boxes`."""
        wx, wy, ww, wh = torch.as_tensor(self.weights, dtype=boxes.dtype, device=boxes.device)
        rw, rh, rx, ry = _size_centre(reference[:, :, None])  # (N, 1) each
        bw, bh, bx, by = _size_centre(boxes[:, :, None])
        dx, dy = wx * (bx - rx) / rw, wy * (by - ry) / rh
        return torch.cat((dx, dy, ww * torch.log(bw / rw), wh * torch.log(bh / rh)), dim=1)

    def decode_single(self, deltas: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """(N, 4) boxes from (N, 4) deltas applied to (N, 4) `reference` boxes."""
        rw, rh, rx, ry = _size_centre(reference.to(deltas.dtype)[:, :, None])
        wx, wy, ww, wh = self.weights
        dw = torch.clamp(deltas[:, 2::4] / ww, max=self.scale_clamp)
        dh = torch.clamp(deltas[:, 3::4] / wh, max=self.scale_clamp)
        x, y = deltas[:, 0::4] / wx * rw + rx, deltas[:, 1::4] / wy * rh + ry
        half = torch.tensor(0.5, dtype=deltas.dtype, device=deltas.device)
        half_w, half_h = half * (torch.exp(dw) * rw), half * (torch.exp(dh) * rh)
        return torch.stack((x - half_w, y - half_h, x + half_w, y + half_h), dim=2).flatten(1)


def _size_centre(boxes: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Width, height, centre x, centre y of (N, 4, ...) xyxy boxes, each (N, ...)."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return w, h, boxes[:, 0] + 0.5 * w, boxes[:, 1] + 0.5 * h


def match_boxes(
    boxes: torch.Tensor, gt: torch.Tensor, *, low_quality: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best ground truth for each box: (best IoU (N,), its index (N,)).

    With `low_quality`, each ground-truth box also claims the boxes that overlap it best (ties
    included) by raising their IoU to 1, as `torchvision`'s `Matcher(allow_low_quality_matches)`
    and Faster R-CNN's RPN do, so that every object gets a positive anchor. `gt` must not be empty.
    """
    best_iou = boxes.new_full((boxes.shape[0],), -1.0)
    best_idx = torch.zeros(boxes.shape[0], dtype=torch.long, device=boxes.device)
    claimed = torch.zeros(boxes.shape[0], dtype=torch.bool, device=boxes.device)
    for start in range(0, gt.shape[0], _CHUNK):
        iou = box_iou(gt[start : start + _CHUNK], boxes)  # (G', N)
        chunk_best, chunk_idx = iou.max(dim=0)
        better = chunk_best > best_iou
        best_iou = torch.where(better, chunk_best, best_iou)
        best_idx = torch.where(better, chunk_idx + start, best_idx)
        if low_quality:
            per_gt = iou.max(dim=1, keepdim=True).values  # (G', 1)
            claimed |= ((iou == per_gt) & (per_gt > 0)).any(dim=0)  # the best boxes of each gt
    if low_quality:
        # A claimed box keeps its own best gt (as torchvision's Matcher does) but is positive.
        best_iou = torch.where(claimed, torch.ones_like(best_iou), best_iou)
    return best_iou, best_idx


def crowd_overlap(boxes: torch.Tensor, crowd: torch.Tensor) -> torch.Tensor:
    """Largest fraction of each box's area covered by one crowd box: (N,) in [0, 1]."""
    if crowd.numel() == 0:
        return boxes.new_zeros(boxes.shape[0])
    lt = torch.max(boxes[:, None, :2], crowd[None, :, :2])
    rb = torch.min(boxes[:, None, 2:], crowd[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=2)  # (N, K)
    area = box_area(boxes).clamp(min=1e-6)
    return (inter / area[:, None]).max(dim=1).values


def sample_labels(labels: torch.Tensor, num_samples: int, positive_fraction: float) -> torch.Tensor:
    """Keep at most `num_samples` labelled entries, at most `positive_fraction` of them positive.

    `labels` holds 1 (positive), 0 (negative) or `IGNORE`; the entries not drawn become `IGNORE`.
    The draw uses torch's global generator (seeded by the trainer), like torchvision's
    `BalancedPositiveNegativeSampler`.
    """
    positive = torch.nonzero(labels == 1).flatten()
    negative = torch.nonzero(labels == 0).flatten()
    n_pos = min(int(num_samples * positive_fraction), positive.numel())
    n_neg = min(num_samples - n_pos, negative.numel())
    keep_pos = positive[torch.randperm(positive.numel(), device=labels.device)[:n_pos]]
    keep_neg = negative[torch.randperm(negative.numel(), device=labels.device)[:n_neg]]
    out = torch.full_like(labels, IGNORE)
    out[keep_pos] = 1.0
    out[keep_neg] = 0.0
    return out


def inside(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Whether each box lies entirely within the image (§3.2: anchors "entirely contained")."""
    return (
        (boxes[:, 0] >= 0) & (boxes[:, 1] >= 0) & (boxes[:, 2] <= width) & (boxes[:, 3] <= height)
    )


def clip(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Boxes (..., 4) clipped to the image."""
    x = boxes[..., 0::2].clamp(0, width)
    y = boxes[..., 1::2].clamp(0, height)
    return torch.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], dim=-1)


def nonempty(boxes: torch.Tensor, min_size: float = 0.0) -> torch.Tensor:
    """Boxes whose sides are both positive and at least `min_size`."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return (w > 0) & (h > 0) & (w >= min_size) & (h >= min_size)
