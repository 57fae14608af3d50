"""torch.distributed set-up for `torchrun`: NCCL on GPUs, gloo on CPUs; one process per device.

Under torchrun (RANK and WORLD_SIZE in the environment) a process group is created, also for a
single process, so that a one-process torchrun job runs the distributed code paths (DDP, the
merging of metrics). Outside torchrun everything runs in one process without a group.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in the job."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    launched: bool = False  # started by torchrun, with a process group (even of one process)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether a process group joins this process to others (or to a 1-process job)."""
        return self.world_size > 1 or self.launched


def setup(device: str | None = None) -> DistributedContext:
    """Join the torchrun job (if any) and pick the device: `cuda:LOCAL_RANK` when CUDA is
    available, else the CPU; `device` forces one ("cpu" or "cuda")."""
    launched = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if use_cuda and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but CUDA is not available")
    target = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(target)  # cuDNN's autotuner: the trainer's cudnn_benchmark
    if launched and not dist.is_initialized():
        backend = "nccl" if use_cuda else "gloo"
        dist.init_process_group(backend=backend)
        log.info("rank %d of %d joined (%s) on %s", rank, world_size, backend, target)
    return DistributedContext(rank, world_size, local_rank, target, launched=launched)


def teardown() -> None:
    """Leave the process group, if one was created."""
    if dist.is_initialized():
        dist.destroy_process_group()


def reduce_mean(values: Mapping[str, float], ctx: DistributedContext) -> dict[str, float]:
    """Mean of each value over ranks (one all-reduce); identity in a single process."""
    if not ctx.distributed or not values:
        return dict(values)
    keys = sorted(values)
    tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(tensor)
    tensor /= ctx.world_size
    return dict(zip(keys, tensor.tolist(), strict=True))


def barrier(ctx: DistributedContext) -> None:
    if ctx.distributed:
        dist.barrier()
