"""The ROI head: §3.2's level formula against torchvision's LevelMapper, pooling, sampling and
targets, losses against torchvision's fastrcnn_loss, the branches' sizes, test-time selection."""

from __future__ import annotations

import pytest
import torch
from torchvision.models.detection.roi_heads import fastrcnn_loss
from torchvision.ops import roi_align
from torchvision.ops.poolers import LevelMapper

from reference_model.boxes import BoxCoder
from reference_model.config import ROIConfig
from reference_model.losses import mask_loss, roi_losses
from reference_model.modules.factory import group_norm_act
from reference_model.roi_head import BoxHead, MaskHead, ROIHead, pool_rois, roi_levels
from reference_model.roi_targets import mask_targets, sample_rois

pytestmark = pytest.mark.needs_torch


def test_level_formula_is_the_fpn_papers_as_torchvision_computes_it() -> None:
    """k = max(1, min(4, floor(3 + log2(sqrt(wh) / 224)))) over P2..P5 is torchvision's
    LevelMapper(k_min=2, k_max=5, canonical level 4), shifted by one."""
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(500, 2, generator=g) * 1000
    wh = torch.exp(torch.rand(500, 2, generator=g) * 7)  # 1 .. 1100 pixels
    boxes = torch.cat([xy, xy + wh], dim=1)
    assert torch.equal(roi_levels(boxes), LevelMapper(2, 5)([boxes]))
    square = torch.tensor(
        [[0.0, 0, 224, 224], [0.0, 0, 111, 111], [0.0, 0, 112, 112], [0, 0, 900, 900]]
    )
    assert roi_levels(square).tolist() == [2, 0, 1, 3]  # 224 -> P4; 112 -> P3; below -> P2; cap P5


def test_pooling_takes_each_box_from_its_level_in_order() -> None:
    features = [torch.randn(2, 3, 64 // s, 64 // s) for s in (1, 2, 4, 8)]
    strides = [4, 8, 16, 32]
    boxes = [
        torch.tensor([[0.0, 0, 200, 200], [4.0, 4, 20, 30]]),
        torch.tensor([[10.0, 10, 130, 120]]),
    ]
    out = pool_rois(features, boxes, strides, size=14, canonical_scale=224.0, sampling_ratio=2)
    rows = [(0, boxes[0][0]), (0, boxes[0][1]), (1, boxes[1][0])]
    for r, (image, box) in enumerate(rows):
        level = int(roi_levels(box[None])[0])
        roi = torch.cat([torch.tensor([float(image)]), box])[None]
        expected = roi_align(features[level], roi, 14, 1.0 / strides[level], 2, aligned=True)
        torch.testing.assert_close(out[r : r + 1], expected)


def test_roi_losses_match_torchvisions_fastrcnn_loss() -> None:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(10, 4, generator=g)
    deltas = torch.randn(10, 3, 4, generator=g)
    labels = torch.tensor([1, 3, 0, 0, 2, 0, 0, 1, 0, 0])
    targets = torch.randn(10, 4, generator=g)
    cls, box = roi_losses(logits, deltas, labels, targets, beta=1 / 9)
    with_background = torch.cat([torch.zeros(10, 1, 4), deltas], dim=1).reshape(10, -1)
    ref_cls, ref_box = fastrcnn_loss(logits, with_background, [labels], [targets])
    torch.testing.assert_close(cls, ref_cls)
    torch.testing.assert_close(box, ref_box)


def test_mask_loss_is_bce_on_the_gt_class_channel() -> None:
    logits = torch.randn(2, 3, 28, 28)
    targets = (torch.rand(2, 28, 28) > 0.5).float()
    loss = mask_loss(logits, torch.tensor([2, 0]), targets)
    chosen = torch.stack([logits[0, 2], logits[1, 0]])
    torch.testing.assert_close(
        loss, torch.nn.functional.binary_cross_entropy_with_logits(chosen, targets)
    )


def _target() -> dict[str, torch.Tensor]:
    masks = torch.zeros(3, 100, 100, dtype=torch.bool)
    masks[0, 10:40, 60:90] = True  # a crowd region, first in the numbering
    masks[1, 10:50, 10:50] = True
    masks[2, 60:90, 50:95] = True
    return {
        "boxes": torch.tensor([[60.0, 10, 90, 40], [10.0, 10, 50, 50], [50.0, 60, 95, 90]]),
        "labels": torch.tensor([4, 1, 6]),
        "masks": masks,
        "iscrowd": torch.tensor([True, False, False]),
    }


def test_sampling_adds_the_gt_drops_crowd_and_numbers_objects_as_the_target() -> None:
    target = _target()
    proposals = torch.tensor(
        [[12.0, 11, 50, 52], [61.0, 11, 89, 39], [0.0, 50, 20, 99], [52.0, 62, 94, 88]]
    )
    coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
    torch.manual_seed(0)
    s = sample_rois(proposals, target, ROIConfig(samples_per_image=8, positive_fraction=0.5), coder)
    n_pos = s.matched.numel()
    assert n_pos == 4  # the two gt boxes and the two proposals on them
    assert s.labels[:n_pos].tolist() == [int(target["labels"][m]) + 1 for m in s.matched.tolist()]
    assert set(s.matched.tolist()) == {1, 2}  # crowd (index 0) is never a positive
    assert s.labels[n_pos:].tolist() == [0]  # the proposal on the crowd box is dropped
    decoded = coder.decode_single(s.box_targets[:n_pos], s.boxes[:n_pos])
    torch.testing.assert_close(decoded, target["boxes"][s.matched], atol=1e-3, rtol=0)


def test_mask_targets_from_crops_equal_roialign_on_the_whole_mask() -> None:
    target = _target()
    boxes = torch.tensor([[11.0, 9, 52, 49], [50.0, 60, 95, 90], [48.5, 58.2, 96.1, 93.3]])
    matched = torch.tensor([1, 2, 2])
    ours = mask_targets(target["masks"], matched, boxes, 28)
    rois = torch.cat([torch.arange(3.0)[:, None], boxes], dim=1)
    whole = roi_align(target["masks"][matched][:, None].float(), rois, 28, 1.0, 2, aligned=True)[
        :, 0
    ]
    torch.testing.assert_close(ours, whole, atol=1e-5, rtol=0)  # shifted coordinates round


def test_the_papers_roi_head_has_the_authors_parameter_count() -> None:
    """fc1 12544*1024 + fc2 1024^2 + 2 norms of 1024 (x2) + classes 1024*9+9 + deltas 1024*32+32
    = 13,939,753; mask 4 * (9*256^2 + 512) + (4*256^2 + 512) + 256*8+8 = 2,626,056
    (docs/paper.md §2: ROI head 16.566 M), the same with GroupNorm or iABN (2 parameters a
    channel)."""
    with torch.device("meta"):
        box = BoxHead(256, 14, 1024, 8, group_norm_act(32))
        mask = MaskHead(256, 256, 4, 8, group_norm_act(32))
    assert sum(p.numel() for p in box.parameters()) == 13_939_753
    assert sum(p.numel() for p in mask.parameters()) == 2_626_056
    logits, deltas = BoxHead(16, 14, 32, 3, group_norm_act(8))(torch.randn(5, 16, 14, 14))
    assert logits.shape == (5, 4)
    assert deltas.shape == (5, 3, 4)
    assert MaskHead(16, 16, 2, 3, group_norm_act(8))(torch.randn(5, 16, 14, 14)).shape == (
        5,
        3,
        28,
        28,
    )


def _head(**overrides: object) -> ROIHead:
    cfg = ROIConfig(
        fc_channels=32, mask_channels=16, mask_convs=1, group_norm_groups=8, **overrides
    )  # type: ignore[arg-type]
    norm = group_norm_act(8)
    return ROIHead(
        BoxHead(8, 14, 32, 3, norm), MaskHead(8, 16, 1, 3, norm), cfg, [4, 8, 16, 32]
    ).eval()


def test_selection_thresholds_then_nms_per_class_then_keeps_the_best() -> None:
    head = _head(score_threshold=0.05, nms_threshold=0.5, max_detections=3)
    boxes = torch.tensor([[0.0, 0, 10, 10], [1.0, 1, 11, 11], [50.0, 50, 60, 60]])[:, None].expand(
        3, 3, 4
    )
    scores = torch.tensor([[0.9, 0.02, 0.3], [0.8, 0.5, 0.01], [0.04, 0.6, 0.7]])
    out = head._select(boxes, scores, 100, 100)
    # class 0: boxes 0 and 1 overlap (IoU 0.68) -> 0.9 survives; 0.04 < 0.05 dropped.
    # class 1: 0.5 (box 1) and 0.6 (box 2) do not overlap; class 2: 0.3 (box 0), 0.7 (box 2).
    assert out["scores"].tolist() == pytest.approx([0.9, 0.7, 0.6])  # the best 3 of 5
    assert out["labels"].tolist() == [0, 2, 1]


def test_detection_without_proposals_gives_empty_results() -> None:
    head = _head()
    features = [torch.randn(1, 8, 64 // s, 64 // s) for s in (1, 2, 4, 8)]
    (d,) = head.detect(features, [torch.zeros(0, 4)], [(256, 256)])
    assert d["boxes"].shape == (0, 4)
    assert d["mask_probs"].shape == (0, 28, 28)
    (d,) = head.detect(features, [torch.tensor([[0.0, 0, 50, 60]])], [(256, 256)])
    assert d["mask_probs"].shape[1:] == (28, 28)
    assert bool((d["mask_probs"] >= 0).all())
