"""Which images each process loads: an iteration-indexed training stream, and eval shards.

The training stream is the concatenation of seeded permutations of the dataset, one per epoch.
Iteration `i` consumes stream positions `[i G, (i + 1) G)` for a global batch of `G` images;
rank `r` of `R` takes the `G / R` consecutive positions `i G + r G / R + j`. Any iteration's
batch is a pure function of (seed, iteration, rank), which makes resuming exact, and a run on
R processes sees the same images per iteration as one process with the whole batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .dataset import SampleKey


class TrainBatchSampler:
    """Batch sampler over iterations `start_iteration .. iterations - 1` for one rank."""

    def __init__(
        self,
        n_items: int,
        batch_per_rank: int,
        *,
        iterations: int,
        start_iteration: int = 0,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
    ) -> None:
        if n_items < 1:
            raise ValueError("the training set is empty")
        if batch_per_rank < 1 or not 0 <= rank < world_size:
            raise ValueError(
                f"need batch_per_rank >= 1 and 0 <= rank < world_size, got {batch_per_rank}, "
                f"rank {rank} of {world_size}"
            )
        if not 0 <= start_iteration <= iterations:
            raise ValueError(f"start_iteration {start_iteration} not in 0..{iterations}")
        self.n_items = n_items
        self.batch_per_rank = batch_per_rank
        self.global_batch = batch_per_rank * world_size
        self.iterations = iterations
        self.start_iteration = start_iteration
        self.rank = rank
        self.seed = seed
        self._epoch = -1
        self._order = np.zeros(0, dtype=np.int64)

    def permutation(self, epoch: int) -> np.ndarray:
        """The image order of one epoch."""
        if epoch != self._epoch:
            self._order = np.random.default_rng([self.seed, epoch]).permutation(self.n_items)
            self._epoch = epoch
        return self._order

    def epoch_of(self, iteration: int) -> int:
        """The epoch (full passes over the data) in which `iteration` starts."""
        return iteration * self.global_batch // self.n_items

    def keys(self, iteration: int) -> list[SampleKey]:
        """This rank's batch at `iteration`."""
        first = iteration * self.global_batch + self.rank * self.batch_per_rank
        keys = []
        for position in range(first, first + self.batch_per_rank):
            epoch, offset = divmod(position, self.n_items)
            index = int(self.permutation(epoch)[offset])
            keys.append(SampleKey(index, position, self.seed))
        return keys

    def __iter__(self) -> Iterator[list[SampleKey]]:
        for iteration in range(self.start_iteration, self.iterations):
            yield self.keys(iteration)

    def __len__(self) -> int:
        return self.iterations - self.start_iteration


def shard(n_items: int, rank: int, world_size: int) -> range:
    """The contiguous block of item indices that `rank` evaluates (sizes differ by at most 1)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} not in 0..{world_size - 1}")
    base, extra = divmod(n_items, world_size)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (rank < extra))
