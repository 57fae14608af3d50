"""The training stream (epochs, ranks, resume) and the evaluation shards; the loaders built on
them give identical batches whatever the worker count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from reference_model.data import (
    AugmentationConfig,
    DataConfig,
    TrainBatchSampler,
    eval_loader,
    shard,
    synthetic,
    train_loader,
)

pytestmark = pytest.mark.needs_torch


def _indices(sampler: TrainBatchSampler) -> list[list[int]]:
    return [[k.index for k in batch] for batch in sampler]


def test_every_epoch_is_a_permutation() -> None:
    sampler = TrainBatchSampler(7, 3, iterations=14, seed=5)  # 42 positions = 6 epochs
    flat = [i for batch in _indices(sampler) for i in batch]
    for epoch in range(6):
        assert sorted(flat[epoch * 7 : (epoch + 1) * 7]) == list(range(7))
    assert flat[:7] != flat[7:14]  # a new order every epoch
    assert sampler.epoch_of(0) == 0
    assert sampler.epoch_of(3) == 1  # positions 9..11 lie in epoch 1 (7..13)
    assert _indices(TrainBatchSampler(7, 3, iterations=14, seed=5)) == _indices(sampler)
    assert _indices(TrainBatchSampler(7, 3, iterations=14, seed=6)) != _indices(sampler)


def test_ranks_split_the_global_batch_and_resume_continues_the_stream() -> None:
    whole = list(TrainBatchSampler(10, 4, iterations=6, seed=1))
    ranks = [
        list(TrainBatchSampler(10, 2, iterations=6, rank=r, world_size=2, seed=1)) for r in (0, 1)
    ]
    for it in range(6):
        assert ranks[0][it] + ranks[1][it] == whole[it]  # same keys, positions and seeds
    resumed = list(TrainBatchSampler(10, 4, iterations=6, start_iteration=4, seed=1))
    assert resumed == whole[4:]
    assert len(TrainBatchSampler(10, 4, iterations=6, start_iteration=4)) == 2
    with pytest.raises(ValueError, match=r"start_iteration 7 not in 0\.\.6"):
        TrainBatchSampler(10, 4, iterations=6, start_iteration=7)
    with pytest.raises(ValueError, match="training set is empty"):
        TrainBatchSampler(0, 4, iterations=6)


@pytest.mark.parametrize(("n", "world"), [(10, 3), (2, 4), (0, 2), (9, 1)])
def test_shards_cover_each_item_once(n: int, world: int) -> None:
    parts = [shard(n, r, world) for r in range(world)]
    assert [i for part in parts for i in part] == list(range(n))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_loader_batches_do_not_depend_on_workers(synthetic_root: Path) -> None:
    source = synthetic(synthetic_root, "train")
    aug = AugmentationConfig(short_side=48, scale_range=(0.5, 1.5))
    batches = {}
    for workers in (0, 2):
        config = DataConfig(
            dataset="synthetic", root=str(synthetic_root), workers=workers, augmentation=aug
        )
        loader, _ = train_loader(
            source, config, batch_per_rank=2, iterations=5, start_iteration=2, seed=4
        )
        batches[workers] = list(loader)
    assert len(batches[0]) == 3
    for a, b in zip(batches[0], batches[2], strict=True):
        assert torch.equal(a.images, b.images)
        assert a.image_ids == b.image_ids
        assert a.targets is not None
        assert b.targets is not None
        for ta, tb in zip(a.targets, b.targets, strict=True):
            assert ta.keys() == tb.keys()
            assert all(torch.equal(ta[k], tb[k]) for k in ta)


def test_eval_loader_shards_in_order(synthetic_root: Path) -> None:
    source = synthetic(synthetic_root, "val")
    config = DataConfig(
        dataset="synthetic",
        root=str(synthetic_root),
        workers=0,
        augmentation=AugmentationConfig(test_short_side=32),
    )
    ids = []
    for rank in range(3):
        for batch in eval_loader(source, config, batch_size=4, rank=rank, world_size=3):
            assert batch.targets is None
            assert batch.images.shape[2:] == (32, 64)
            assert batch.original_sizes == [(64, 128)] * len(batch.image_ids)
            ids.extend(batch.image_ids)
    assert ids == [r.image_id for r in source.records]
    assert len(np.unique(ids)) == 19
