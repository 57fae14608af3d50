"""The region segmentation head (§3.2, "RSH"): ROIAlign, the box branch and the mask branch.

ROIs are pooled 14 x 14 by ROIAlign from pyramid level k = max(1, min(4, floor(3 +
log2(sqrt(wh) / 224)))) of P2..P5 (k = 1 is P2). Box branch: 2x2 average pooling to 7 x 7, two
FC 1024 each with GroupNorm + leaky ReLU (the authors' code: iABN, `roi.norm = "norm_act"`),
then (things + 1)-way logits and class-specific box deltas (weights 10, 10, 5, 5). Mask branch:
four 3x3 convs 256 + norm/act, a 2x2 stride-2 deconv 256 + norm/act, a 1x1 conv to one 28 x 28
logit map per thing class. On the CPU the pooling is `reference_model.roi_align` (one
weighted gather over all levels, torchvision's numbers to float rounding, a faster backward;
the box branch's 2x2 average taken inside it); elsewhere torchvision's `roi_align` per level.
In training the box branch pools every sampled ROI, the mask branch only the positive ones.

Test time (§3.5): the box branch runs on the proposals; per class, boxes with probability
> 0.05 go through NMS 0.5; the 100 best are kept; the mask branch runs on those.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.ops import batched_nms, box_area, roi_align

from . import boxes as box_ops
from .config import ROIConfig
from .losses import mask_loss, roi_losses
from .modules.norm_act import NormAct
from .roi_align import roi_align as gather_roi_align
from .roi_targets import RoiSamples, mask_targets, sample_rois

ROI_LEVELS = 4  # §3.2: ROIs come from P2..P5


def roi_levels(boxes: torch.Tensor, canonical_scale: float = 224.0) -> torch.Tensor:
    """§3.2's level of each box, as an index into P2..P5 (the paper's k minus 1), (R,) int64."""
    scale = box_area(boxes).clamp(min=0).sqrt()
    k = torch.floor(3 + torch.log2(scale / canonical_scale + 1e-6))  # +eps: seamseg, torchvision
    return (k.clamp(1, ROI_LEVELS) - 1).to(torch.int64)


def pool_rois(
    features: list[torch.Tensor],
    boxes: list[torch.Tensor],
    strides: list[int],
    *,
    size: int,
    canonical_scale: float,
    sampling_ratio: int,
    pool: int = 1,
) -> torch.Tensor:
    """(R, C, size, size) ROIAlign features of the boxes of all images, each from its level;
    with `pool` > 1 average-pooled over `pool` x `pool` blocks, (R, C, size / pool, size / pool)
    (on the CPU inside the gather, `reference_model.roi_align`)."""
    index = torch.cat([torch.full_like(b[:, :1], i) for i, b in enumerate(boxes)])
    rois = torch.cat([index, torch.cat(boxes)], dim=1)  # (R, 5): image index, x0, y0, x1, y1
    levels = roi_levels(rois[:, 1:], canonical_scale)
    if features[0].device.type == "cpu":  # one weighted gather over all levels, faster backward
        scales = [1.0 / s for s in strides[:ROI_LEVELS]]
        return gather_roi_align(
            features[:ROI_LEVELS],
            rois,
            levels,
            scales,
            size,
            sampling_ratio,
            aligned=True,
            pool=pool,
        )
    pooled, rows = [], []
    for level, (f, stride) in enumerate(zip(features[:ROI_LEVELS], strides, strict=False)):
        chosen = torch.nonzero(levels == level).flatten()
        rows.append(chosen)
        pooled.append(
            roi_align(f, rois[chosen].to(f.dtype), size, 1.0 / stride, sampling_ratio, aligned=True)
        )
    order = torch.cat(rows)  # the rows of torch.cat(pooled), in the boxes' numbering
    out = torch.cat(pooled)[torch.argsort(order)]  # (R, C, size, size)
    return F.avg_pool2d(out, pool) if pool > 1 else out


class BoxHead(nn.Module):
    """2x2 average pool, FC + norm/act, FC + norm/act, class logits and class-specific deltas.

    `forward` takes the 14 x 14 ROIAlign features; `classify` the 7 x 7 ones already pooled
    (`pool_rois(..., pool=2)`, as the ROI head pools them).
    """

    def __init__(
        self, channels: int, roi_size: int, hidden: int, num_things: int, norm_act: NormAct
    ) -> None:
        super().__init__()
        self.fc1 = nn.Linear(channels * (roi_size // 2) ** 2, hidden, bias=False)
        self.norm1 = norm_act(hidden)
        self.fc2 = nn.Linear(hidden, hidden, bias=False)
        self.norm2 = norm_act(hidden)
        self.classes = nn.Linear(hidden, num_things + 1)  # + 1: void / background (§3.2)
        self.deltas = nn.Linear(hidden, 4 * num_things)
        nn.init.normal_(self.classes.weight, std=0.01)
        nn.init.normal_(self.deltas.weight, std=0.001)
        for fc in (self.classes, self.deltas):
            nn.init.zeros_(fc.bias)

    def forward(self, rois: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.classify(F.avg_pool2d(rois, 2))

    def classify(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and deltas of (R, C, 7, 7) pooled ROI features."""
        x = pooled.flatten(1)  # (R, C * 7 * 7)
        x = self.norm1(self.fc1(x)[:, :, None, None]).flatten(1)  # (R, 1024)
        x = self.norm2(self.fc2(x)[:, :, None, None]).flatten(1)  # (R, 1024)
        return self.classes(x), self.deltas(x).unflatten(1, (-1, 4))  # (R, T+1), (R, T, 4)


class MaskHead(nn.Module):
    """n 3x3 convs + norm/act, 2x2 stride-2 deconv + norm/act, 1x1 conv to T mask logits."""

    def __init__(
        self, channels: int, hidden: int, convs: int, num_things: int, norm_act: NormAct
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for index in range(convs):
            layers += [
                nn.Conv2d(channels if index == 0 else hidden, hidden, 3, padding=1, bias=False),
                norm_act(hidden),
            ]
        layers += [nn.ConvTranspose2d(hidden, hidden, 2, stride=2, bias=False), norm_act(hidden)]
        self.convs = nn.Sequential(*layers)
        self.logits = nn.Conv2d(hidden, num_things, 1)
        nn.init.normal_(self.logits.weight, std=0.001)
        assert self.logits.bias is not None  # built with a bias
        nn.init.zeros_(self.logits.bias)

    def forward(self, rois: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.logits(self.convs(rois))  # (R, T, 28, 28)
        return logits


class ROIHead(nn.Module):
    """Box and mask branches on the pooled proposals; losses in training, detections at test."""

    def __init__(
        self, box_head: BoxHead, mask_head: MaskHead, config: ROIConfig, strides: list[int]
    ) -> None:
        super().__init__()
        self.box_head = box_head
        self.mask_head = mask_head
        self.config = config
        self.strides = strides
        self.box_coder = box_ops.BoxCoder(config.box_weights)

    def pool(
        self, features: list[torch.Tensor], boxes: list[torch.Tensor], pool: int = 1
    ) -> torch.Tensor:
        """(R, C, 14, 14) ROIAlign features of `boxes` (the mask branch's input); `pool=2`:
        their 2 x 2 average, (R, C, 7, 7) (the box branch's)."""
        cfg = self.config
        return pool_rois(
            features,
            boxes,
            self.strides,
            size=cfg.roi_size,
            canonical_scale=cfg.canonical_scale,
            sampling_ratio=cfg.sampling_ratio,
            pool=pool,
        )

    def losses(
        self,
        features: list[torch.Tensor],
        proposals: list[torch.Tensor],
        targets: list[dict[str, torch.Tensor]],
    ) -> dict[str, torch.Tensor]:
        """`roi_class`, `roi_box` and `roi_mask` on the sampled ROIs of each image."""
        samples = [
            sample_rois(p, t, self.config, self.box_coder)
            for p, t in zip(proposals, targets, strict=True)
        ]
        pooled = self.pool(features, [s.boxes for s in samples], pool=2)  # (R, C, 7, 7)
        class_logits, deltas = self.box_head.classify(pooled)  # (R, T + 1), (R, T, 4)
        cls, box = roi_losses(
            class_logits.float(),
            deltas.float(),
            torch.cat([s.labels for s in samples]),
            torch.cat([s.box_targets for s in samples]),
            beta=self.config.box_loss_beta,
        )
        return {
            "roi_class": cls,
            "roi_box": box,
            "roi_mask": self._mask_loss(features, samples, targets),
        }

    def _mask_loss(
        self,
        features: list[torch.Tensor],
        samples: list[RoiSamples],
        targets: list[dict[str, torch.Tensor]],
    ) -> torch.Tensor:
        """Mask BCE on the positive ROIs (the first rows of each image's samples), pooled
        14 x 14 on their own: only they go through the mask branch."""
        size = 2 * self.config.roi_size
        positives, labels, masks = [], [], []
        for s, t in zip(samples, targets, strict=True):
            n_pos = s.matched.numel()
            positives.append(s.boxes[:n_pos])
            labels.append(s.labels[:n_pos] - 1)
            masks.append(mask_targets(t["masks"], s.matched, s.boxes[:n_pos], size))
        if sum(b.shape[0] for b in positives) == 0:  # a zero loss reaching every mask parameter
            zero = features[0].new_zeros((), dtype=torch.float32)  # (DDP needs them all)
            return sum((p.sum() for p in self.mask_head.parameters()), zero) * 0.0
        mask_logits = self.mask_head(self.pool(features, positives)).float()  # (P, T, 28, 28)
        return mask_loss(mask_logits, torch.cat(labels), torch.cat(masks))

    @torch.no_grad()
    def detect(
        self,
        features: list[torch.Tensor],
        proposals: list[torch.Tensor],
        image_sizes: list[tuple[int, int]],
    ) -> list[dict[str, torch.Tensor]]:
        """Per image: `boxes` (K, 4), `labels` (K,) thing index, `scores` (K,), `mask_probs`
        (K, 28, 28) foreground probabilities of each detection's class in its box."""
        class_logits, deltas = self.box_head.classify(self.pool(features, proposals, pool=2))
        probs = class_logits.softmax(dim=1)
        detections = []
        for i, (rows, (h, w)) in enumerate(zip(_splits(proposals), image_sizes, strict=True)):
            boxes = self._decode(deltas[rows], proposals[i])
            detections.append(self._select(boxes, probs[rows, 1:], h, w))
        labels = torch.cat([d["labels"] for d in detections])
        size = 2 * self.config.roi_size
        chosen = class_logits.new_zeros(0, size, size)
        if labels.numel():
            mask_logits = self.mask_head(self.pool(features, [d["boxes"] for d in detections]))
            chosen = mask_logits[torch.arange(labels.numel(), device=labels.device), labels]
            chosen = chosen.sigmoid()  # (K_total, 28, 28)
        for d, rows in zip(detections, _splits([d["boxes"] for d in detections]), strict=True):
            d["mask_probs"] = chosen[rows]
        return detections

    def _decode(self, deltas: torch.Tensor, proposals: torch.Tensor) -> torch.Tensor:
        """(R, T, 4) class-specific boxes from (R, T, 4) deltas and (R, 4) proposals."""
        r, t = deltas.shape[:2]
        repeated = proposals[:, None].expand(r, t, 4).reshape(-1, 4)
        # float32: under autocast the deltas are float16, too coarse for 2048-pixel coordinates
        decoded = self.box_coder.decode_single(deltas.reshape(-1, 4).float(), repeated.float())
        return decoded.reshape(r, t, 4)

    def _select(
        self, boxes: torch.Tensor, scores: torch.Tensor, height: int, width: int
    ) -> dict[str, torch.Tensor]:
        """Threshold, per-class NMS and the top `max_detections` of one image's boxes."""
        cfg = self.config
        labels = torch.arange(scores.shape[1], device=scores.device).expand_as(scores)
        boxes = box_ops.clip(boxes, height, width).reshape(-1, 4)
        scores, labels = scores.reshape(-1), labels.reshape(-1)
        keep = (scores > cfg.score_threshold) & box_ops.nonempty(boxes)
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        keep = batched_nms(boxes, scores.float(), labels, cfg.nms_threshold)[: cfg.max_detections]
        return {"boxes": boxes[keep], "labels": labels[keep], "scores": scores[keep]}


def _offsets(counts: list[int]) -> list[int]:
    return [sum(counts[:i]) for i in range(len(counts))]


def _splits(boxes: list[torch.Tensor]) -> list[slice]:
    """Row ranges of each image's boxes in the concatenation."""
    counts = [b.shape[0] for b in boxes]
    return [slice(o, o + c) for o, c in zip(_offsets(counts), counts, strict=True)]
