"""The region proposal head (§3.2, "RPH") and its algorithm: anchors, matching, proposals.

One head (3x3 conv 256 + norm/act, 1x1 convs for A objectness logits and 4A box deltas) runs on
every pyramid level. Anchors: one size per level (`anchor_scale` x the level's stride) at each
aspect ratio, centred on the cells. Training: anchors entirely inside the image are matched to
the ground truth (IoU >= 0.7 positive, < 0.3 negative, the best anchor of each object positive;
anchors mostly on crowd regions ignored) and 256 are sampled, at most half positive.
Proposals: deltas applied to the anchors, clipped, the top-k by objectness over all levels
together, NMS 0.7, the first post-NMS ones kept (12000/2000 in training, 6000/1000 at test).
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import nms

from . import boxes as box_ops
from .config import RPNConfig
from .losses import rpn_losses
from .modules.norm_act import NormAct


class RPNHead(nn.Module):
    """3x3 conv + norm/act, then 1x1 convs to A objectness logits and 4A box deltas."""

    def __init__(
        self, channels: int, hidden: int, num_anchors: int, *, stride: int, norm_act: NormAct
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, hidden, 3, stride=stride, padding=1, bias=False)
        self.norm = norm_act(hidden)
        self.objectness = nn.Conv2d(hidden, num_anchors, 1)
        self.box = nn.Conv2d(hidden, 4 * num_anchors, 1)
        for conv in (self.objectness, self.box):
            nn.init.normal_(conv.weight, std=0.01)
            assert conv.bias is not None  # built with a bias
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.norm(self.conv(x))  # (B, 256, h, w)
        b = x.shape[0]
        obj = self.objectness(x).permute(0, 2, 3, 1).reshape(b, -1)  # (B, h*w*A)
        box = self.box(x).permute(0, 2, 3, 1).reshape(b, -1, 4)  # (B, h*w*A, 4)
        return obj, box


def cell_anchors(size: float, ratios: tuple[float, ...]) -> torch.Tensor:
    """(A, 4) anchors of area size^2 and height/width = ratio, centred on the origin."""
    r = torch.tensor(ratios, dtype=torch.float64)
    h, w = size * r.sqrt(), size / r.sqrt()
    return torch.stack([-w / 2, -h / 2, w / 2, h / 2], dim=1).float()


def grid_anchors(base: torch.Tensor, stride: int, height: int, width: int) -> torch.Tensor:
    """(height * width * A, 4) anchors at the centres of the cells of a (height, width) grid.

    Ordered (y, x, anchor) to match the head's `permute(0, 2, 3, 1)`.
    """
    ys = (torch.arange(height, dtype=torch.float32, device=base.device) + 0.5) * stride
    xs = (torch.arange(width, dtype=torch.float32, device=base.device) + 0.5) * stride
    cy, cx = torch.meshgrid(ys, xs, indexing="ij")
    shifts = torch.stack([cx, cy, cx, cy], dim=-1).reshape(-1, 1, 4)  # (h*w, 1, 4)
    return (shifts + base.to(shifts)[None]).reshape(-1, 4)


class RPN(nn.Module):
    """Head + anchors + matching + proposals on the pyramid levels of `strides`."""

    def __init__(self, head: RPNHead, config: RPNConfig, strides: list[int]) -> None:
        super().__init__()
        self.head = head
        self.config = config
        self.strides = strides
        self.box_coder = box_ops.BoxCoder((1.0, 1.0, 1.0, 1.0))
        # anchors per (device, level sizes): the same every step at a fixed input size
        self._anchor_cache: dict[tuple[object, ...], torch.Tensor] = {}

    def anchors(self, features: list[torch.Tensor]) -> torch.Tensor:
        """(N, 4) anchors of all levels, in the order of the head's flattened outputs.

        Computed once per device and feature sizes, then reused (read-only: callers index it,
        never write to it)."""
        key = (str(features[0].device), *(tuple(f.shape[-2:]) for f in features))
        cached = self._anchor_cache.get(key)
        if cached is None:
            if len(self._anchor_cache) >= 16:  # many input sizes (evaluation): keep it small
                self._anchor_cache.clear()
            cached = self._anchor_cache[key] = self._make_anchors(features)
        return cached

    def _make_anchors(self, features: list[torch.Tensor]) -> torch.Tensor:
        out = []
        for f, stride in zip(features, self.strides, strict=True):
            base = cell_anchors(self.config.anchor_scale * stride, self.config.anchor_ratios)
            grid_stride = stride * self.config.conv_stride
            out.append(grid_anchors(base.to(f.device), grid_stride, f.shape[-2], f.shape[-1]))
        return torch.cat(out)

    def forward(
        self,
        features: list[torch.Tensor],
        image_sizes: list[tuple[int, int]],
        targets: list[dict[str, torch.Tensor]] | None = None,
    ) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
        """Proposals per image ((P_i, 4), detached) and, with targets, the two RPN losses."""
        outputs = [self.head(f) for f in features]
        objectness = torch.cat([o for o, _ in outputs], dim=1)  # (B, N)
        deltas = torch.cat([d for _, d in outputs], dim=1)  # (B, N, 4)
        anchors = self.anchors(features)  # (N, 4)
        losses: dict[str, torch.Tensor] = {}
        if targets is not None:
            labels, box_targets = self._targets(anchors, image_sizes, targets)
            obj_loss, box_loss = rpn_losses(
                objectness.float(),
                deltas.float(),
                labels,
                box_targets,
                beta=self.config.box_loss_beta,
            )
            losses = {"rpn_objectness": obj_loss, "rpn_box": box_loss}
        with torch.no_grad():
            proposals = self._proposals(anchors, objectness.detach(), deltas.detach(), image_sizes)
        return proposals, losses

    def _proposals(
        self,
        anchors: torch.Tensor,
        objectness: torch.Tensor,
        deltas: torch.Tensor,
        image_sizes: list[tuple[int, int]],
    ) -> list[torch.Tensor]:
        cfg = self.config
        pre, post = (
            (cfg.pre_nms_train, cfg.post_nms_train)
            if self.training
            else (cfg.pre_nms_test, cfg.post_nms_test)
        )
        out = []
        for obj, delta, (h, w) in zip(objectness, deltas, image_sizes, strict=True):
            scores, idx = obj.topk(min(pre, obj.numel()))  # top-k over all levels together
            boxes = self.box_coder.decode_single(delta[idx].float(), anchors[idx])  # float32
            boxes = box_ops.clip(boxes, h, w)
            keep = box_ops.nonempty(boxes, cfg.min_size)
            boxes, scores = boxes[keep], scores[keep]
            keep = nms(boxes, scores.float(), cfg.nms_threshold)[:post]
            out.append(boxes[keep])
        return out

    def _targets(
        self,
        anchors: torch.Tensor,
        image_sizes: list[tuple[int, int]],
        targets: list[dict[str, torch.Tensor]],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sampled labels (B, N) in {1, 0, -1} and encoded boxes (B, N, 4)."""
        cfg = self.config
        labels, box_targets = [], []
        for (h, w), target in zip(image_sizes, targets, strict=True):
            crowd = target["iscrowd"]
            gt, crowd_boxes = target["boxes"][~crowd], target["boxes"][crowd]
            label = anchors.new_full((anchors.shape[0],), box_ops.IGNORE)
            valid = box_ops.inside(anchors, h, w)
            valid &= box_ops.crowd_overlap(anchors, crowd_boxes) < cfg.crowd_overlap
            encoded = torch.zeros_like(anchors)
            if gt.shape[0] == 0:
                label[valid] = 0.0
            elif valid.any():
                iou, idx = box_ops.match_boxes(anchors[valid], gt, low_quality=True)
                lab = torch.full_like(iou, box_ops.IGNORE)
                lab[iou < cfg.negative_iou] = 0.0
                lab[iou >= cfg.positive_iou] = 1.0
                label[valid] = lab
                encoded[valid] = self.box_coder.encode_single(gt[idx], anchors[valid])
            labels.append(
                box_ops.sample_labels(label, cfg.samples_per_image, cfg.positive_fraction)
            )
            box_targets.append(encoded)
        return torch.stack(labels), torch.stack(box_targets)
