"""Panoptic fusion (§3.5): instances and the semantic prediction merged into one segment map.

A pure function of tensors, used by both forms of the model:
1. instances with score > 0.5, by descending score: an instance takes its still-unassigned
   pixels if they are at least 50% of its mask; otherwise it is dropped (an NMS on masks);
2. the remaining pixels take the semantic argmax if it is a stuff class, else void (0);
3. a stuff class with fewer than 4096 pixels in the result becomes void.
Segment ids are 1, 2, ... (things first, by descending score, then stuff by class index).
"""

from __future__ import annotations

from typing import Any

import torch

VOID = 0


def panoptic_fusion(
    semantic: torch.Tensor,
    masks: torch.Tensor,
    labels: torch.Tensor,
    scores: torch.Tensor,
    *,
    num_stuff: int,
    score_threshold: float = 0.5,
    overlap_threshold: float = 0.5,
    min_stuff_area: int = 4096,
) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """Fuse one image's predictions.

    Args:
        semantic: (H, W) int64 semantic argmax, contiguous class indices (stuff first).
        masks: (K, H, W) bool instance masks. labels: (K,) int64 thing index (class
            `num_stuff + label`). scores: (K,) float detection scores.
        num_stuff: number of stuff classes (indices 0..num_stuff-1).
        score_threshold, overlap_threshold, min_stuff_area: §3.5's 0.5, 50% and 4096.

    Returns:
        panoptic: (H, W) int64 segment ids, 0 = void.
        segments: one dict per segment, `{"id", "class_index", "isthing", "score"}`; the score of
        a stuff segment is 1.0 (it comes from an argmax, not from a detection).

    Example:
        >>> sem = torch.tensor([[0, 0, 2], [0, 2, 2]])
        >>> masks = torch.tensor([[[False, False, True], [False, True, True]]])
        >>> pan, segs = panoptic_fusion(sem, masks, torch.tensor([0]), torch.tensor([0.9]),
        ...                             num_stuff=2, min_stuff_area=1)
        >>> pan.tolist(), [(s["id"], s["class_index"], s["isthing"]) for s in segs]
        ([[2, 2, 1], [2, 1, 1]], [(1, 2, True), (2, 0, False)])
    """
    _check(semantic, masks, labels, scores)
    panoptic = torch.zeros_like(semantic, dtype=torch.int64)
    segments: list[dict[str, Any]] = []
    order = torch.argsort(scores, descending=True, stable=True).tolist()
    for k in order:
        if float(scores[k]) <= score_threshold:
            break
        mask = masks[k]
        area = int(mask.sum())
        if area == 0:
            continue
        free = mask & (panoptic == VOID)
        if int(free.sum()) < overlap_threshold * area:
            continue
        segment_id = len(segments) + 1
        panoptic[free] = segment_id
        segments.append(
            {
                "id": segment_id,
                "class_index": num_stuff + int(labels[k]),
                "isthing": True,
                "score": float(scores[k]),
            }
        )
    _add_stuff(panoptic, segments, semantic, num_stuff, min_stuff_area)
    return panoptic, segments


def _add_stuff(
    panoptic: torch.Tensor,
    segments: list[dict[str, Any]],
    semantic: torch.Tensor,
    num_stuff: int,
    min_stuff_area: int,
) -> None:
    """Unassigned pixels take their stuff class, one segment per class with enough pixels."""
    rest = panoptic == VOID
    counts = torch.bincount(semantic[rest], minlength=num_stuff)[:num_stuff]
    for c in torch.nonzero(counts >= max(min_stuff_area, 1)).flatten().tolist():
        segment_id = len(segments) + 1
        panoptic[rest & (semantic == c)] = segment_id
        segments.append({"id": segment_id, "class_index": c, "isthing": False, "score": 1.0})


def _check(
    semantic: torch.Tensor, masks: torch.Tensor, labels: torch.Tensor, scores: torch.Tensor
) -> None:
    """Shapes must agree; a mismatch is a clear error, not a broadcast."""
    if semantic.dim() != 2:
        raise ValueError(f"semantic must be (H, W), got shape {tuple(semantic.shape)}")
    if masks.dim() != 3 or masks.shape[1:] != semantic.shape:
        raise ValueError(
            f"masks must be (K, H, W) with (H, W) = {tuple(semantic.shape)}, "
            f"got {tuple(masks.shape)}"
        )
    if masks.dtype != torch.bool:
        raise TypeError(f"masks must be bool, got {masks.dtype}")
    if labels.shape != (masks.shape[0],) or scores.shape != (masks.shape[0],):
        raise ValueError(
            f"labels and scores must be ({masks.shape[0]},), "
            f"got {tuple(labels.shape)} and {tuple(scores.shape)}"
        )
