"""Rank body of the torch.distributed test (importable by spawned processes)."""

from __future__ import annotations

import json
from pathlib import Path

from panoptic_metrics import CategorySet, PanopticAccumulator, from_segments
from panoptic_metrics.distributed import all_reduce_accumulator

from tests.metrics.panoptic_data import CATEGORIES, random_dataset


def run(rank: int, world_size: int, folder: str) -> None:
    """Evaluate every world_size-th image on this rank, all-reduce, write rank's result."""
    import torch.distributed as dist

    dist.init_process_group(
        "gloo", init_method=f"file://{folder}/store", rank=rank, world_size=world_size
    )
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
