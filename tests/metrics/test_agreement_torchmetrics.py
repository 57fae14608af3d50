"""PQ† against torchmetrics' ModifiedPanopticQuality (which cites the paper's definition),
and PQ against its PanopticQuality, run here on the same maps.

Where the conventions coincide the numbers agree to 1e-9: no crowd in the ground truth and
no void in the prediction (and for PQ, at most one segment per stuff class and image). They
differ, by design, in exactly three places, the first two pinned below by hand-derived examples:

1. Crowd. torchmetrics has no crowd flag: a crowd region is an ordinary gt segment, so an
   unmatched one is a false negative. panopticapi (and we) never count crowd as FN and
   exempt predictions lying mostly on same-class crowd from FP.
2. Predicted void. torchmetrics' `_calculate_iou` also removes the gt pixels that the
   prediction leaves void from the union (and drops gt segments mostly covered by predicted
   void from FN); panopticapi (and we) count those pixels as missed, removing only the
   prediction's pixels on gt void. Stuff segments merged per class (docs/metrics.md, PQ†) coincide.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from panoptic_metrics import CategorySet, PanopticAccumulator, PanopticResults, from_segments

from tests.metrics.panoptic_data import CATEGORIES, STUFF_IDS, THING_IDS, Annotated, random_pair

pytestmark = pytest.mark.needs_torch
CATS = CategorySet.from_coco(CATEGORIES)
TOL = 1e-9


def _tensor(images: Sequence[Annotated]):  # type: ignore[no-untyped-def]
    """(B, H, W, 2) (category, instance) tensor; void -> category 0, outside the set."""
    import torch

    out = []
    for image in images:
        cat = np.zeros(image.ids.shape, np.int64)
        for seg in image.segments:
            cat[image.ids == seg["id"]] = seg["category_id"]
        out.append(np.stack([cat, image.ids], axis=-1))
    return torch.from_numpy(np.stack(out))


def _theirs(gts: Sequence[Annotated], preds: Sequence[Annotated], modified: bool):  # type: ignore[no-untyped-def]
    import torch
    from torchmetrics.detection import ModifiedPanopticQuality, PanopticQuality

    kind = ModifiedPanopticQuality if modified else PanopticQuality
    metric = kind(things=set(THING_IDS), stuffs=set(STUFF_IDS), allow_unknown_preds_category=True)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        metric.update(_tensor(preds), _tensor(gts))
        order = sorted(THING_IDS) + sorted(STUFF_IDS)  # torchmetrics' class order
        tp, fp, fn = metric.true_positives, metric.false_positives, metric.false_negatives
        denominator = tp + 0.5 * fp + 0.5 * fn
        per_class = {
            cid: float(metric.iou_sum[k] / denominator[k]) if denominator[k] > 0 else float("nan")
            for k, cid in enumerate(order)
        }
        return float(metric.compute()), per_class
    finally:
        torch.set_default_dtype(default)


def _ours(gts: Sequence[Annotated], preds: Sequence[Annotated]) -> PanopticResults:
    acc = PanopticAccumulator(CATS, mode="pixels")
    for gt, pred in zip(gts, preds, strict=True):
        acc.update(from_segments(gt.ids, gt.segments), from_segments(pred.ids, pred.segments))
    return acc.compute()


def _no_pred_void(pred: Annotated) -> Annotated:
    """Give the predicted void pixels to a new segment of the first stuff class."""
    ids = pred.ids.copy()
    segments = [dict(s) for s in pred.segments]
    if (ids == 0).any():
        ids[ids == 0] = 999
        segments.append({"id": 999, "category_id": STUFF_IDS[0], "iscrowd": 0})
    return Annotated(pred.image_id, ids, segments)


@pytest.mark.slow
def test_pq_dagger_and_pq_agree_without_crowd_or_predicted_void() -> None:
    rng = np.random.default_rng(3)
    pairs = [random_pair(rng, k, h=32, w=40, crowd=False) for k in range(10)]
    gts = [g for g, _ in pairs]
    preds = [_no_pred_void(p) for _, p in pairs]
    ours = _ours(gts, preds)
    dagger, per_class = _theirs(gts, preds, modified=True)
    assert ours.pq_dagger == pytest.approx(dagger, abs=TOL)
    for c in ours.per_class:
        if np.isnan(per_class[c.category.id]):
            assert np.isnan(c.pq_dagger)
        else:
            assert c.pq_dagger == pytest.approx(per_class[c.category.id], abs=TOL)
    assert ours.pq_dagger != pytest.approx(ours.pq, abs=1e-3)  # PQ† really differs here
    assert any(_merge_stuff(g) is not g for g in gts)  # repeated stuff classes are present
    gts, preds = [_merge_stuff(g) for g in gts], [_merge_stuff(p) for p in preds]
    pq, _ = _theirs(gts, preds, modified=False)
    assert _ours(gts, preds).pq == pytest.approx(pq, abs=TOL)


def _merge_stuff(image: Annotated) -> Annotated:
    """The same image with all segments of each stuff class given one id (itself if none)."""
    first: dict[int, int] = {}
    ids, segments = image.ids.copy(), []
    for seg in image.segments:
        if seg["category_id"] in STUFF_IDS and seg["category_id"] in first:
            ids[image.ids == seg["id"]] = first[seg["category_id"]]
            continue
        if seg["category_id"] in STUFF_IDS:
            first[seg["category_id"]] = seg["id"]
        segments.append(dict(seg))
    if len(segments) == len(image.segments):
        return image
    return Annotated(image.image_id, ids, segments)


def _image(ids: np.ndarray, segments: list[tuple[int, int, int]]) -> Annotated:
    return Annotated(0, ids, [{"id": s, "category_id": c, "iscrowd": k} for s, c, k in segments])


def test_crowd_is_an_ordinary_segment_for_torchmetrics() -> None:
    """gt: road on 12 of 16 pixels, a 4-pixel crowd car; prediction: road on all 16.
    Ours: road IoU = 12 / 16 = 0.75 (a TP), the crowd is no FN, no thing class has any
    segment: PQ = PQ† = 0.75. torchmetrics: the same road TP, but the crowd car is an FN
    (car PQ = 0): PQ = PQ† = (0.75 + 0) / 2 = 0.375."""
    gt_ids = np.ones((4, 4), np.int64)
    gt_ids[:2, :2] = 2
    gt = _image(gt_ids, [(1, STUFF_IDS[0], 0), (2, THING_IDS[0], 1)])
    pred = _image(np.full((4, 4), 5, np.int64), [(5, STUFF_IDS[0], 0)])
    with pytest.warns(RuntimeWarning, match="PQ of things: no class to average"):
        ours = _ours([gt], [pred])
    assert ours.pq == ours.pq_dagger == 0.75
    assert _theirs([gt], [pred], modified=False)[0] == pytest.approx(0.375, abs=TOL)
    assert _theirs([gt], [pred], modified=True)[0] == pytest.approx(0.375, abs=TOL)


def test_predicted_void_leaves_the_union_for_torchmetrics() -> None:
    """gt: one road segment of 10 pixels; prediction: road on 6, void on 4.
    Ours (panopticapi): IoU = 6 / (6 + 10 - 6) = 0.6. torchmetrics: union = 6 + 10 - 4 - 6 = 6,
    IoU = 1. Same for PQ (0.6 vs 1: one TP either way)."""
    gt = _image(np.ones((1, 10), np.int64), [(1, STUFF_IDS[0], 0)])
    pred_ids = np.zeros((1, 10), np.int64)
    pred_ids[0, :6] = 7
    pred = _image(pred_ids, [(7, STUFF_IDS[0], 0)])
    with pytest.warns(RuntimeWarning, match="PQ of things: no class to average"):
        ours = _ours([gt], [pred])
    assert ours.pq == pytest.approx(0.6, abs=TOL)
    assert ours.pq_dagger == pytest.approx(0.6, abs=TOL)
    assert _theirs([gt], [pred], modified=True)[0] == pytest.approx(1.0, abs=TOL)
    assert _theirs([gt], [pred], modified=False)[0] == pytest.approx(1.0, abs=TOL)
