"""Rank bodies of the torch.distributed tests (importable by the forked processes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from panoptic_metrics import CategorySet, PanopticAccumulator, RunAccumulator, from_segments
from panoptic_metrics.distributed import all_reduce_accumulator, all_reduce_run

from tests.metrics.panoptic_data import CATEGORIES, random_dataset
from tests.metrics.run_data import detections, semantic_map


def _init(rank: int, world_size: int, folder: str) -> Any:
    import torch.distributed as dist

    dist.init_process_group(
        "gloo", init_method=f"file://{folder}/store", rank=rank, world_size=world_size
    )
    return dist


def run(rank: int, world_size: int, folder: str) -> None:
    """Evaluate every world_size-th image on this rank, all-reduce, write rank's result."""
    dist = _init(rank, world_size, folder)
    try:
        gts, preds = random_dataset(seed=4, n=10)
        acc = PanopticAccumulator(CategorySet.from_coco(CATEGORIES))
        for k in range(rank, len(gts), world_size):
            acc.update(
                from_segments(gts[k].ids, gts[k].segments, image_id=gts[k].image_id),
                from_segments(preds[k].ids, preds[k].segments, image_id=preds[k].image_id),
            )
        merged = all_reduce_accumulator(acc)
        out = {"results": merged.compute().to_json(), "local_images": acc.n_images}
        Path(folder, f"rank{rank}.json").write_text(json.dumps(out))
    finally:
        dist.destroy_process_group()


def update_run(acc: RunAccumulator, images: list[int], seed: int) -> None:
    """Add the given images of `random_dataset(seed)` with semantic maps and detections."""
    gts, preds = random_dataset(seed=seed, n=10)
    for k in images:
        gt = from_segments(gts[k].ids, gts[k].segments, image_id=gts[k].image_id)
        pred = from_segments(preds[k].ids, preds[k].segments, image_id=preds[k].image_id)
        acc.update(
            gt,
            pred,
            gt_semantic=semantic_map(gt, acc.categories),
            pred_semantic=semantic_map(pred, acc.categories),
            detections=detections(pred, acc.categories, np.random.default_rng(k)),
        )


def run_all(rank: int, world_size: int, folder: str) -> None:
    """The same with PQ, mIoU and mask AP through `all_reduce_run`."""
    dist = _init(rank, world_size, folder)
    try:
        acc = RunAccumulator(CategorySet.from_coco(CATEGORIES), miou=True, mask_ap=True)
        update_run(acc, list(range(rank, 14, world_size)), seed=4)
        merged = all_reduce_run(acc).compute()
        Path(folder, f"run{rank}.json").write_text(json.dumps(merged.to_json()))
    finally:
        dist.destroy_process_group()
