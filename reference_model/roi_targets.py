"""Training targets of the ROI head (Mask R-CNN [19]): sampled proposals, classes, boxes, masks.

Per image: the ground-truth boxes are added to the proposals; proposals mostly on a crowd
region are dropped; IoU >= 0.5 with a (non-crowd) object makes a positive of its class, below
0.5 a negative (background, class 0); 512 are sampled with at most 25% positive. Mask targets
are the object's mask resampled by ROIAlign into each positive's box at 28 x 28.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.ops import roi_align

from . import boxes as box_ops
from .config import ROIConfig


@dataclass(frozen=True)
class RoiSamples:
    """The sampled ROIs of one image."""

    boxes: torch.Tensor  # (R, 4) proposals (positives first)
    labels: torch.Tensor  # (R,) int64: 0 background, k + 1 for thing k
    box_targets: torch.Tensor  # (R, 4) encoded boxes of the matched objects (zeros for negatives)
    matched: torch.Tensor  # (P,) index into the target's objects of each positive (first P rows)


def sample_rois(
    proposals: torch.Tensor,
    target: dict[str, torch.Tensor],
    config: ROIConfig,
    coder: box_ops.BoxCoder,
) -> RoiSamples:
    """Sampled ROIs and their class / box targets for one image."""
    crowd = target["iscrowd"]
    gt, gt_labels = target["boxes"][~crowd], target["labels"][~crowd]
    boxes = torch.cat([gt, proposals])
    keep = box_ops.crowd_overlap(boxes, target["boxes"][crowd]) < config.crowd_overlap
    boxes = boxes[keep]
    if gt.shape[0] == 0:
        iou = boxes.new_zeros(boxes.shape[0])
        idx = torch.zeros(boxes.shape[0], dtype=torch.long, device=boxes.device)
    else:
        iou, idx = box_ops.match_boxes(boxes, gt, low_quality=False)
    label = (iou >= config.positive_iou).to(boxes.dtype)  # 1 positive, 0 negative
    label = box_ops.sample_labels(label, config.samples_per_image, config.positive_fraction)
    positive = torch.nonzero(label == 1).flatten()
    negative = torch.nonzero(label == 0).flatten()
    order = torch.cat([positive, negative])
    labels = torch.zeros(order.numel(), dtype=torch.long, device=boxes.device)
    labels[: positive.numel()] = gt_labels[idx[positive]] + 1
    box_targets = boxes.new_zeros(order.numel(), 4)
    if positive.numel():
        box_targets[: positive.numel()] = coder.encode_single(gt[idx[positive]], boxes[positive])
    matched = torch.nonzero(~crowd).flatten()[idx[positive]]  # back to the target's numbering
    return RoiSamples(boxes[order], labels, box_targets, matched)


def mask_targets(
    masks: torch.Tensor, matched: torch.Tensor, boxes: torch.Tensor, size: int
) -> torch.Tensor:
    """(P, size, size) float targets: object `matched[i]`'s mask resampled into `boxes[i]`.

    Each object's mask is cropped to the union of its ROIs before it is converted to float, so
    that memory stays proportional to the objects, not to the image.
    """
    out = boxes.new_zeros(boxes.shape[0], size, size)
    if boxes.shape[0] == 0:
        return out
    h, w = masks.shape[-2:]
    for obj in torch.unique(matched).tolist():
        rows = torch.nonzero(matched == obj).flatten()
        roi = boxes[rows]
        x0 = int(roi[:, 0].min().floor().clamp(0, w - 1))
        y0 = int(roi[:, 1].min().floor().clamp(0, h - 1))
        x1 = int(roi[:, 2].max().ceil().clamp(x0 + 1, w))
        y1 = int(roi[:, 3].max().ceil().clamp(y0 + 1, h))
        crop = masks[obj, y0:y1, x0:x1].to(boxes.dtype)[None, None]  # (1, 1, h', w')
        shifted = roi - roi.new_tensor([x0, y0, x0, y0])
        index = roi.new_zeros(rows.numel(), 1)
        out[rows] = roi_align(crop, torch.cat([index, shifted], 1), size, 1.0, 2, aligned=True)[
            :, 0
        ]
    return out
