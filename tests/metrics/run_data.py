"""Inputs of a run's evaluation made from panoptic images: the semantic label maps and the
instance detections a model would give alongside its panoptic prediction."""

from __future__ import annotations

from typing import Any

import numpy as np
from panoptic_metrics import CategorySet, PanopticImage

IGNORE = 255


def semantic_map(image: PanopticImage, categories: CategorySet) -> np.ndarray:
    """(H, W) contiguous class indices (docs/contracts.md §1) of a panoptic image; void and
    unlisted ids are the ignore label."""
    index = {cid: k for k, cid in enumerate(categories.contiguous_ids)}
    out = np.full(image.ids.shape, IGNORE, dtype=np.int64)
    for sid, cid in zip(
        image.segments.ids.tolist(), image.segments.category_ids.tolist(), strict=True
    ):
        out[image.ids == sid] = index[cid]
    return out


def detections(
    image: PanopticImage, categories: CategorySet, rng: np.random.Generator
) -> dict[str, Any]:
    """The thing segments of a predicted panoptic image as detections (thing indices, scores
    in [0.5, 1)), plus one spurious detection of a random thing class (score under 0.5)."""
    things = categories.thing_ids
    masks, labels = [], []
    for sid, cid in zip(
        image.segments.ids.tolist(), image.segments.category_ids.tolist(), strict=True
    ):
        if cid in things:
            masks.append(image.ids == sid)
            labels.append(things.index(cid))
    h, w = image.ids.shape
    spurious = np.zeros((h, w), dtype=bool)
    y, x = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
    spurious[y : y + h // 4, x : x + w // 4] = True
    masks.append(spurious)
    labels.append(int(rng.integers(0, len(things))))
    return {
        "masks": np.stack(masks),
        "labels": np.array(labels, dtype=np.int64),
        "scores": np.append(0.5 + 0.5 * rng.random(len(labels) - 1), 0.5 * rng.random()),
    }
