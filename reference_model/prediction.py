"""What the model returns at test time (docs/contracts.md §2), and its COCO-panoptic form.

`make_prediction` turns one image's raw outputs (semantic logits, detections with 28 x 28 mask
probabilities) into a `PanopticPrediction` at the image's size: masks pasted into the image
(torchvision's `paste_masks_in_image`) and thresholded at 0.5, then `panoptic_fusion`.
`to_coco_panoptic` gives the PNG (ids as RGB, id = R + 256 G + 256^2 B) and the annotation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from panoptic_metrics.io import ids_to_rgb
from torchvision.models.detection.roi_heads import paste_masks_in_image

from .config import FusionConfig
from .fusion import panoptic_fusion
from .semantic_head import upsample_logits

MASK_THRESHOLD = 0.5  # Mask R-CNN [19]: a pixel belongs to the instance if its probability > 0.5


@dataclass(frozen=True)
class Instances:
    """The detections of one image before fusion (for mask AP), on the CPU."""

    boxes: torch.Tensor  # (K, 4) float xyxy in pixels
    labels: torch.Tensor  # (K,) int64 thing index (class num_stuff + label)
    scores: torch.Tensor  # (K,) float
    masks: torch.Tensor  # (K, H, W) bool


@dataclass(frozen=True)
class PanopticPrediction:
    """One image's panoptic prediction at its own size, on the CPU (docs/contracts.md §2)."""

    panoptic: torch.Tensor  # (H, W) int64 segment ids, 0 = void
    segments: list[dict[str, Any]]  # {"id", "class_index", "isthing", "score"}
    semantic: torch.Tensor  # (H, W) int64 argmax class index
    instances: Instances


def make_prediction(
    semantic_logits: torch.Tensor,
    detection: dict[str, torch.Tensor],
    image_size: tuple[int, int],
    *,
    input_size: Sequence[int],
    num_stuff: int,
    fusion: FusionConfig,
) -> PanopticPrediction:
    """One image's prediction from its semantic logits (C, H', W') of the padded input (of
    `input_size`; upsampled bilinearly to it, then cropped to `image_size`: §3.3) and its
    detections (`boxes`, `labels`, `scores`, `mask_probs` (K, 28, 28))."""
    h, w = image_size
    logits = upsample_logits(semantic_logits[None], (int(input_size[0]), int(input_size[1])))
    semantic = logits[0, :, :h, :w].argmax(dim=0).cpu()  # (h, w)
    boxes = detection["boxes"].float().cpu()
    probs = detection["mask_probs"].float().cpu()
    if boxes.shape[0]:
        masks = paste_masks_in_image(probs[:, None], boxes, (h, w))[:, 0] > MASK_THRESHOLD
    else:
        masks = torch.zeros(0, h, w, dtype=torch.bool)
    labels, scores = detection["labels"].cpu(), detection["scores"].float().cpu()
    panoptic, segments = panoptic_fusion(
        semantic,
        masks,
        labels,
        scores,
        num_stuff=num_stuff,
        score_threshold=fusion.score_threshold,
        overlap_threshold=fusion.overlap_threshold,
        min_stuff_area=fusion.min_stuff_area,
    )
    return PanopticPrediction(panoptic, segments, semantic, Instances(boxes, labels, scores, masks))


def to_coco_panoptic(
    prediction: PanopticPrediction,
    *,
    category_ids: Sequence[int],
    image_id: int | str,
    file_name: str,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The COCO-panoptic PNG (H, W, 3) uint8 and annotation of a prediction.

    Args:
        category_ids: the dataset's category id of each contiguous class index
            (docs/contracts.md §1), e.g. Cityscapes label ids.
        image_id, file_name: written into the annotation as they are.
    """
    ids = prediction.panoptic.numpy()
    segments_info = []
    for seg in prediction.segments:
        if not 0 <= seg["class_index"] < len(category_ids):
            raise ValueError(
                f"segment {seg['id']}: class index {seg['class_index']} has no category id "
                f"(got {len(category_ids)} category ids)"
            )
        ys, xs = np.nonzero(ids == seg["id"])
        if ys.size == 0:
            continue
        x0, y0 = int(xs.min()), int(ys.min())
        segments_info.append(
            {
                "id": int(seg["id"]),
                "category_id": int(category_ids[seg["class_index"]]),
                "iscrowd": 0,
                "area": int(ys.size),
                "bbox": [x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1],
            }
        )
    annotation = {"image_id": image_id, "file_name": file_name, "segments_info": segments_info}
    return ids_to_rgb(ids), annotation


def resize_prediction(prediction: PanopticPrediction, size: tuple[int, int]) -> PanopticPrediction:
    """The prediction at another (H, W): the panoptic, semantic and instance maps resized with
    nearest neighbours, the boxes scaled. Evaluation brings predictions made at the test scale
    back to the size of the ground truth this way. Segments that lose every pixel are dropped."""
    h, w = int(size[0]), int(size[1])
    old_h, old_w = prediction.panoptic.shape
    if (h, w) == (old_h, old_w):
        return prediction

    # Nearest neighbours by pixel centres (F.interpolate's "nearest-exact"), as an index
    # gather: any dtype, no float copy of the (K, H, W) masks.
    rows = ((torch.arange(h) + 0.5) * (old_h / h)).long().clamp_(max=old_h - 1)
    cols = ((torch.arange(w) + 0.5) * (old_w / w)).long().clamp_(max=old_w - 1)

    def nearest(maps: torch.Tensor) -> torch.Tensor:  # (N, h0, w0) -> (N, h, w), same dtype
        return maps[:, rows[:, None], cols[None, :]]

    panoptic = nearest(prediction.panoptic[None])[0]
    present = set(torch.unique(panoptic).tolist())
    segments = [s for s in prediction.segments if s["id"] in present]
    scale = torch.tensor([w / old_w, h / old_h, w / old_w, h / old_h])
    inst = prediction.instances
    instances = Instances(inst.boxes * scale, inst.labels, inst.scores, nearest(inst.masks))
    return PanopticPrediction(panoptic, segments, nearest(prediction.semantic[None])[0], instances)
