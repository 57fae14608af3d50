"""The RPN: anchors against torchvision's AnchorGenerator, matching against torchvision's Matcher,
sampling, proposals (top-k over all levels, NMS), and its losses."""

from __future__ import annotations

import pytest
import torch
from torchvision.models.detection._utils import Matcher
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.ops import box_iou

from reference_model import boxes as box_ops
from reference_model.config import RPNConfig
from reference_model.losses import rpn_losses
from reference_model.modules.norm_act import ABN
from reference_model.rpn import RPN, RPNHead, cell_anchors, grid_anchors

pytestmark = pytest.mark.needs_torch


def _random_boxes(n: int, size: float, generator: torch.Generator) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=generator) * size
    wh = torch.rand(n, 2, generator=generator) * size / 3 + 4
    return torch.cat([xy, xy + wh], dim=1)


@pytest.mark.parametrize("stride", [4, 16, 64])
def test_anchors_are_torchvisions_shifted_to_the_cell_centres(stride: int) -> None:
    """torchvision puts anchors on the cell corners (x * stride) and rounds the base anchors; the
    authors' code (and ours) centres them on the cells: the same boxes, shifted by stride / 2."""
    size, ratios, (h, w) = 8.0 * stride, (0.5, 1.0, 2.0), (5, 7)
    ours = grid_anchors(cell_anchors(size, ratios), stride, h, w)
    generator = AnchorGenerator(sizes=((int(size),),), aspect_ratios=(ratios,))
    s = torch.tensor(stride)
    theirs = generator.grid_anchors([[h, w]], [[s, s]])[0]
    assert ours.shape == theirs.shape == (h * w * 3, 4)
    torch.testing.assert_close(ours - stride / 2, theirs, atol=0.5, rtol=0)  # they round
    widths, heights = ours[:3, 2] - ours[:3, 0], ours[:3, 3] - ours[:3, 1]
    torch.testing.assert_close(heights / widths, torch.tensor(ratios))  # h / w = ratio (§5.3)
    torch.testing.assert_close(widths * heights, torch.full((3,), size**2))


def test_matching_agrees_with_torchvisions_matcher() -> None:
    g = torch.Generator().manual_seed(0)
    anchors = _random_boxes(3000, 200.0, g)
    gt = _random_boxes(40, 200.0, g)  # more than one IoU chunk of 16
    iou, idx = box_ops.match_boxes(anchors, gt, low_quality=True)
    ours = torch.full_like(iou, -2.0)
    ours[iou < 0.3] = -1.0
    ours[iou >= 0.7] = idx[iou >= 0.7].float()
    theirs = Matcher(0.7, 0.3, allow_low_quality_matches=True)(box_iou(gt, anchors))
    torch.testing.assert_close(ours, theirs.float())
    plain_iou, plain_idx = box_ops.match_boxes(anchors, gt, low_quality=False)
    best = box_iou(gt, anchors).max(dim=0)
    torch.testing.assert_close(plain_iou, best.values)
    assert (plain_idx == best.indices).float().mean() > 0.99  # ties may pick another gt


def test_sampling_keeps_at_most_the_quota_of_positives() -> None:
    labels = torch.tensor([1.0] * 300 + [0.0] * 1000 + [-1.0] * 50)
    torch.manual_seed(0)
    sampled = box_ops.sample_labels(labels, 256, 0.5)
    assert int((sampled == 1).sum()) == 128
    assert int((sampled == 0).sum()) == 128
    assert bool((sampled[labels == -1] == -1).all())
    few = box_ops.sample_labels(torch.tensor([1.0] * 10 + [0.0] * 1000), 256, 0.5)
    assert int((few == 1).sum()) == 10
    assert int((few == 0).sum()) == 246


def _rpn(**overrides: object) -> RPN:
    cfg = RPNConfig(hidden_channels=8, **overrides)  # type: ignore[arg-type]
    head = RPNHead(8, 8, len(cfg.anchor_ratios), stride=1, norm_act=ABN)
    return RPN(head, cfg, [4, 8])


def test_anchor_labels_ignore_outside_and_crowd_and_sample_256() -> None:
    rpn = _rpn(anchor_scale=2.0)
    features = [torch.zeros(1, 8, 16, 16), torch.zeros(1, 8, 8, 8)]
    anchors = rpn.anchors(features)
    target = {
        "boxes": torch.tensor([[8.0, 8.0, 24.0, 24.0], [40.0, 40.0, 60.0, 60.0]]),
        "iscrowd": torch.tensor([False, True]),
    }
    torch.manual_seed(0)
    labels, encoded = rpn._targets(anchors, [(64, 64)], [target])
    labels = labels[0]
    outside = ~box_ops.inside(anchors, 64, 64)
    on_crowd = box_ops.crowd_overlap(anchors, target["boxes"][1:]) >= 0.7
    assert bool((labels[outside | on_crowd] == -1).all())
    assert int((labels >= 0).sum()) <= 256
    assert int((labels == 1).sum()) >= 1
    positive = labels == 1
    decoded = rpn.box_coder.decode_single(encoded[0][positive], anchors[positive])
    torch.testing.assert_close(decoded, target["boxes"][:1].expand_as(decoded), atol=1e-3, rtol=0)


def test_proposals_are_topk_over_all_levels_then_nms() -> None:
    """The best boxes win wherever their level; overlapping boxes are suppressed; post-NMS cut."""
    rpn = _rpn(pre_nms_test=3, post_nms_test=2, nms_threshold=0.7).eval()
    anchors = torch.tensor(
        [[0.0, 0, 10, 10], [0.0, 0, 10, 11], [20.0, 20, 30, 30], [40.0, 40, 50, 50], [5, 5, 9, 9]]
    )
    objectness = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0]])  # anchor 1 overlaps anchor 0 (0.91)
    proposals = rpn._proposals(anchors, objectness, torch.zeros(1, 5, 4), [(64, 64)])
    torch.testing.assert_close(proposals[0], anchors[[0, 2]])  # top-3 -> NMS drops 1 -> first 2


def test_proposals_are_clipped_and_empty_ones_dropped() -> None:
    rpn = _rpn().eval()
    anchors = torch.tensor([[-10.0, -10, 20, 20], [70.0, 70, 90, 90], [10.0, 10, 30, 30]])
    proposals = rpn._proposals(
        anchors, torch.tensor([[3.0, 2.0, 1.0]]), torch.zeros(1, 3, 4), [(64, 64)]
    )
    torch.testing.assert_close(proposals[0], torch.tensor([[0.0, 0, 20, 20], [10.0, 10, 30, 30]]))


def test_rpn_losses_are_bce_and_smooth_l1_over_the_sampled_anchors() -> None:
    objectness = torch.tensor([[2.0, -1.0, 0.5, 3.0]])
    labels = torch.tensor([[1.0, 0.0, -1.0, 0.0]])
    deltas = torch.tensor([[[0.1, 0.2, 0.0, 0.0], [9.0, 9, 9, 9], [9.0, 9, 9, 9], [9.0, 9, 9, 9]]])
    targets = torch.zeros(1, 4, 4)
    obj, box = rpn_losses(objectness, deltas, labels, targets, beta=1 / 9)
    bce = torch.nn.functional.softplus(torch.tensor([-2.0, -1.0, 3.0]))  # -log p of each label
    torch.testing.assert_close(obj, bce.mean())
    # smooth-L1 beta 1/9 on the one positive: 0.1 < 1/9 -> x^2 / (2 beta); 0.2 > 1/9 -> x - beta / 2
    torch.testing.assert_close(box, torch.tensor((0.1**2 * 9 / 2 + 0.2 - 1 / 18) / 3))


def test_rpn_losses_with_nothing_sampled_are_zero_and_keep_the_graph() -> None:
    objectness = torch.randn(1, 5, requires_grad=True)
    obj, box = rpn_losses(
        objectness, torch.zeros(1, 5, 4), -torch.ones(1, 5), torch.zeros(1, 5, 4), beta=1.0
    )
    assert float(obj.detach()) == 0.0
    assert float(box.detach()) == 0.0
    obj.backward()
    assert objectness.grad is not None


def test_anchors_are_cached_per_feature_size() -> None:
    """The cache returns what `_make_anchors` computes, once per size, and a new size gets new
    anchors."""
    config = RPNConfig(anchor_scale=4.0)
    head = RPNHead(8, 8, len(config.anchor_ratios), stride=1, norm_act=ABN)
    rpn = RPN(head, config, [4, 8])
    small = [torch.zeros(1, 8, 6, 10), torch.zeros(1, 8, 3, 5)]
    large = [torch.zeros(1, 8, 8, 12), torch.zeros(1, 8, 4, 6)]
    first = rpn.anchors(small)
    torch.testing.assert_close(first, rpn._make_anchors(small), rtol=0, atol=0)
    assert rpn.anchors(small) is first  # reused, not rebuilt
    other = rpn.anchors(large)
    assert other.shape[0] == (8 * 12 + 4 * 6) * len(config.anchor_ratios)
    torch.testing.assert_close(other, rpn._make_anchors(large), rtol=0, atol=0)
    assert "_anchor_cache" not in "".join(rpn.state_dict())  # not saved in checkpoints
