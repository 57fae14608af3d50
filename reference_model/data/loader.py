"""DataLoaders for training (iteration-indexed, resumable) and evaluation (sharded by rank).

A `DataLoader[Sample]` is typed by its dataset's items, as torch types it; iterated, it yields
the padded `Batch`es of its `Collate`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch.utils.data import DataLoader

from .batching import Collate
from .config import DataConfig
from .dataset import PanopticDataset, Sample
from .layouts import open_dataset
from .records import DatasetSource
from .sampler import TrainBatchSampler, shard
from .transforms import EvalTransform, TrainTransform


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # workers decode and resize; the main process owns the cores


def _own_generator(seed: int) -> torch.Generator:
    """A DataLoader draws its workers' base seed when iterated; from its own generator it
    leaves torch's global generator (dropout, samplers in the model) untouched, which a
    resumed run needs to continue exactly. Augmentation does not use it (see SampleKey)."""
    return torch.Generator().manual_seed(seed)


def open_split(config: DataConfig, split: str) -> DatasetSource:
    """The `split` of the configured dataset (DatasetError with instructions if unusable)."""
    return open_dataset(config.dataset, config.root, split, **config.options)


def train_loader(
    source: DatasetSource,
    config: DataConfig,
    *,
    batch_per_rank: int,
    iterations: int,
    start_iteration: int = 0,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
) -> tuple[DataLoader[Sample], TrainBatchSampler]:
    """One batch per iteration from `start_iteration` on, augmented as configured."""
    dataset = PanopticDataset(source, TrainTransform(config.augmentation, source.classes))
    sampler = TrainBatchSampler(
        len(dataset),
        batch_per_rank,
        iterations=iterations,
        start_iteration=start_iteration,
        rank=rank,
        world_size=world_size,
        seed=seed,
    )
    return _loader(dataset, sampler, config, seed), sampler


def eval_loader(
    source: DatasetSource,
    config: DataConfig,
    *,
    batch_size: int = 1,
    rank: int = 0,
    world_size: int = 1,
) -> DataLoader[Sample]:
    """This rank's shard of the split, in order, at the test scale."""
    dataset = PanopticDataset(source, EvalTransform(config.augmentation))
    indices = list(shard(len(dataset), rank, world_size))
    batches = [indices[k : k + batch_size] for k in range(0, len(indices), batch_size)]
    return _loader(dataset, batches, config, seed=0)


def _loader(
    dataset: PanopticDataset, batches: Iterable[list[Any]], config: DataConfig, seed: int
) -> DataLoader[Sample]:
    """A DataLoader of padded batches over `batches` (lists of dataset keys)."""
    return DataLoader(
        dataset,
        batch_sampler=batches,
        num_workers=config.workers,
        collate_fn=Collate(config.augmentation.size_divisor),
        pin_memory=torch.cuda.is_available(),
        worker_init_fn=_worker_init if config.workers else None,
        generator=_own_generator(seed),
    )
