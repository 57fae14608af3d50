"""Panoptic fusion (§3.5) on hand-made maps, its properties, and the COCO-panoptic output."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch
from panopticapi.utils import id2rgb, rgb2id

from reference_model import fusion
from reference_model.config import FusionConfig
from reference_model.fusion import panoptic_fusion
from reference_model.prediction import make_prediction, to_coco_panoptic

pytestmark = pytest.mark.needs_torch

N_STUFF = 2  # classes 0, 1 stuff; 2, 3 things (thing index 0, 1)


def _masks(*slices: tuple[slice, slice], size: tuple[int, int] = (4, 6)) -> torch.Tensor:
    out = torch.zeros(len(slices), *size, dtype=torch.bool)
    for k, (rows, cols) in enumerate(slices):
        out[k, rows, cols] = True
    return out


def _fuse(
    semantic: torch.Tensor, masks: torch.Tensor, labels: list[int], scores: list[float], **kw: float
):  # type: ignore[no-untyped-def]
    return panoptic_fusion(
        semantic, masks, torch.tensor(labels), torch.tensor(scores), num_stuff=N_STUFF, **kw
    )


def test_docstring_example() -> None:
    assert doctest.testmod(fusion).failed == 0


def test_instances_by_score_keep_their_free_pixels_if_half_is_free() -> None:
    semantic = torch.zeros(4, 6, dtype=torch.int64)
    masks = _masks(
        (slice(0, 2), slice(0, 4)),  # A: 8 px, score 0.6
        (slice(0, 2), slice(1, 5)),  # B: 8 px, score 0.8
        (slice(0, 4), slice(0, 3)),  # C: 12 px, score 0.55
        (slice(0, 2), slice(0, 2)),  # D: 4 px, score 0.9
    )
    pan, segs = _fuse(semantic, masks, [0, 1, 0, 1], [0.6, 0.8, 0.55, 0.9], min_stuff_area=1)
    # By score: D takes its 4 px; B: 2 of 8 on D, 6 free >= 4: kept; A: all 8 taken: dropped;
    # C: 6 of 12 taken, 6 free = exactly 50%: kept. The 8 pixels left are stuff 0.
    things = [s for s in segs if s["isthing"]]
    assert [s["class_index"] for s in things] == [3, 3, 2]
    assert [s["score"] for s in things] == pytest.approx([0.9, 0.8, 0.55])
    assert [int((pan == s["id"]).sum()) for s in things] == [4, 6, 6]
    stuff = [s for s in segs if not s["isthing"]]
    assert [s["class_index"] for s in stuff] == [0]
    assert int((pan == stuff[0]["id"]).sum()) == 8


def test_low_scores_thing_argmax_and_small_stuff_become_void() -> None:
    semantic = torch.tensor([[0, 0, 0, 1, 1, 3]] * 4)  # stuff 0 (12 px), stuff 1 (8 px), thing 3
    masks = _masks((slice(0, 4), slice(0, 2)), (slice(0, 1), slice(3, 5)))
    pan, segs = _fuse(semantic, masks, [0, 1], [0.5, 0.51], min_stuff_area=5)
    # 0.5 is not > 0.5: dropped. 0.51 kept (2 px). Stuff 0: 12 px; stuff 1: 8 - 2 = 6 >= 5.
    assert [(s["class_index"], s["isthing"]) for s in segs] == [(3, True), (0, False), (1, False)]
    assert bool((pan[:, 5] == 0).all())  # thing class in the argmax, no instance: void
    pan, segs = _fuse(semantic, masks, [0, 1], [0.5, 0.51], min_stuff_area=7)
    assert [s["class_index"] for s in segs] == [3, 0]  # stuff 1 has 6 < 7 pixels left: void
    assert int((pan == 0).sum()) == 4 + 6


def test_segments_are_numbered_consistently_with_the_map() -> None:
    g = torch.Generator().manual_seed(0)
    semantic = torch.randint(0, 4, (30, 40), generator=g)
    masks = torch.rand(6, 30, 40, generator=g) > 0.7
    labels = torch.randint(0, 2, (6,), generator=g).tolist()
    scores = torch.rand(6, generator=g).tolist()
    pan, segs = _fuse(semantic, masks, labels, scores, min_stuff_area=10)
    ids = [s["id"] for s in segs]
    assert ids == list(range(1, len(segs) + 1))
    assert set(torch.unique(pan).tolist()) <= {0, *ids}
    for s in segs:
        assert bool((pan == s["id"]).any())
        if not s["isthing"]:
            assert bool((semantic[pan == s["id"]] == s["class_index"]).all())


def test_shape_mismatch_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"masks must be \(K, H, W\)"):
        _fuse(
            torch.zeros(4, 6, dtype=torch.int64), torch.zeros(1, 4, 5, dtype=torch.bool), [0], [0.9]
        )
    with pytest.raises(ValueError, match="labels and scores"):
        _fuse(
            torch.zeros(4, 6, dtype=torch.int64),
            torch.zeros(1, 4, 6, dtype=torch.bool),
            [0, 1],
            [0.9],
        )


def test_prediction_from_raw_outputs_and_its_coco_panoptic_png() -> None:
    logits = torch.zeros(4, 40, 64)
    logits[0, :, :32] = 5.0  # stuff 0 on the left, stuff 1 on the right
    logits[1, :, 32:] = 5.0
    detection = {
        "boxes": torch.tensor([[4.0, 4.0, 20.0, 20.0]]),
        "labels": torch.tensor([1]),
        "scores": torch.tensor([0.9]),
        "mask_probs": torch.ones(1, 28, 28),
    }
    fusion_cfg = FusionConfig(min_stuff_area=10)
    pred = make_prediction(
        logits, detection, (36, 60), input_size=(40, 64), num_stuff=N_STUFF, fusion=fusion_cfg
    )
    assert pred.panoptic.shape == pred.semantic.shape == (36, 60)
    assert pred.panoptic.dtype == torch.int64
    assert pred.instances.masks.shape == (1, 36, 60)
    assert int(pred.instances.masks.sum()) == 16 * 16
    category_ids = [7, 8, 24, 26]  # contiguous index -> dataset category id
    rgb, annotation = to_coco_panoptic(
        pred, category_ids=category_ids, image_id="a", file_name="a.png"
    )
    assert rgb.dtype == np.uint8
    assert rgb.shape == (36, 60, 3)
    ids = rgb2id(rgb)  # panopticapi's decoder
    np.testing.assert_array_equal(ids, pred.panoptic.numpy())
    np.testing.assert_array_equal(id2rgb(ids), rgb)
    infos = {s["id"]: s for s in annotation["segments_info"]}
    assert infos[1]["category_id"] == 26
    assert infos[1]["bbox"] == [4, 4, 16, 16]
    assert infos[1]["area"] == 256
    assert sum(s["area"] for s in infos.values()) == 36 * 60
    assert sorted(s["category_id"] for s in infos.values()) == [7, 8, 26]
    with pytest.raises(ValueError, match="class index 3 has no category id"):
        to_coco_panoptic(pred, category_ids=[7, 8], image_id="a", file_name="a.png")


def test_no_detections_still_gives_a_prediction() -> None:
    logits = torch.zeros(4, 32, 32)
    empty = {
        "boxes": torch.zeros(0, 4),
        "labels": torch.zeros(0, dtype=torch.int64),
        "scores": torch.zeros(0),
        "mask_probs": torch.zeros(0, 28, 28),
    }
    pred = make_prediction(
        logits, empty, (32, 32), input_size=(32, 32), num_stuff=N_STUFF, fusion=FusionConfig()
    )
    assert pred.instances.masks.shape == (0, 32, 32)
    assert pred.segments == []
    assert bool((pred.panoptic == 0).all())
