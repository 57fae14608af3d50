"""The training loop: a plain loop over iterations, no framework.

    for each iteration: batch -> losses = model(images, targets) -> sum -> backward
                        -> (clip) -> SGD step -> lr schedule step -> log -> checkpoint

Runs in one process or as one rank of a `torchrun` job (DDP; NCCL on GPUs, gloo on CPUs),
with mixed precision on CUDA. Resuming from `checkpoints/last.pt` continues exactly: the
data stream, augmentation, optimiser and random states are all restored.
"""

from __future__ import annotations

import json
import logging
import resource
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from reference_model.data import Batch, DataConfig, DatasetSource, TrainBatchSampler, train_loader
from reference_model.losses import LOSS_KEYS

from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .config import TrainingConfig
from .curve import CurveLog
from .distributed import DistributedContext, barrier, reduce_mean
from .metrics_log import MetricsLog
from .optim import make_optimizer
from .run_dir import RunDirectory
from .schedule import WarmupMultiStepLR

log = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=nn.Module)


@dataclass(frozen=True)
class TrainResult:
    """What a finished (or resumed-and-finished) training run did."""

    iterations: int
    start_iteration: int
    train_seconds: float
    last_losses: dict[str, float]


class Trainer(Generic[ModelT]):
    """Train `model` on `source` as configured, writing into `run`.

    Args:
        model: returns a dict of scalar losses (keys from `reference_model.LOSS_KEYS`) from
            (images, targets) in train mode.
        source: the training split.
        data: how it is read and augmented.
        config: the optimiser, schedule and bookkeeping.
        run: the run directory.
        run_config: the whole configuration as JSON types (`config.to_dict` of a `RunConfig`),
            saved as config.json and in checkpoints.
        ctx: this process's rank and device (`distributed.setup()`).
        weight_decay_norm: also decay the norm layers' parameters (the model's switch).
        progress: show a tqdm bar with the time left (on rank 0).
        evaluations: the iterations after which `on_evaluation(iteration)` is called (on every
            rank, before that iteration's checkpoint): PQ along the way (`curve.py`). It runs
            with the random states and the modules' train/eval modes restored afterwards, and
            its time is not training time, so the training is the same with or without it.
    """

    def __init__(
        self,
        model: ModelT,
        *,
        source: DatasetSource,
        data: DataConfig,
        config: TrainingConfig,
        run: RunDirectory,
        run_config: Mapping[str, Any],
        ctx: DistributedContext,
        weight_decay_norm: bool = True,
        progress: bool = True,
        evaluations: Sequence[int] = (),
        on_evaluation: Callable[[int], None] | None = None,
    ) -> None:
        if config.batch_size % ctx.world_size:
            raise ValueError(
                f"batch_size {config.batch_size} is not divisible by {ctx.world_size} processes"
            )
        self.source, self.data, self.config, self.run, self.ctx = source, data, config, run, ctx
        self.progress = progress
        self.evaluations = frozenset(evaluations) if on_evaluation is not None else frozenset()
        self.on_evaluation = on_evaluation
        self.run_config = json.loads(json.dumps(run_config))  # JSON types, as config.json has them
        self.model = model.to(ctx.device)
        self.optimizer = make_optimizer(self.model, config, weight_decay_norm=weight_decay_norm)
        self.scheduler = WarmupMultiStepLR(
            self.optimizer,
            milestones=config.milestones,
            gamma=config.gamma,
            warmup_iterations=config.warmup_iterations,
            warmup_factor=config.warmup_factor,
        )
        self.amp = config.amp and ctx.device.type == "cuda"
        self.cpu_autocast = config.cpu_autocast and ctx.device.type == "cpu"
        self.scaler = torch.amp.GradScaler(ctx.device.type, enabled=self.amp)
        if ctx.device.type == "cuda":
            torch.backends.cudnn.benchmark = config.cudnn_benchmark
        self.wrapped: nn.Module = self.model
        if ctx.distributed:
            self.wrapped = DistributedDataParallel(
                self.model,
                device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None,
                find_unused_parameters=config.find_unused_parameters,
            )
        self.iteration = 0
        self.elapsed = 0.0  # training seconds over all sessions of this run

    # -- state ---------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The checkpoint contents (gathers every rank's RNG state: call on all ranks)."""
        rngs = [rng_state()]
        if self.ctx.distributed:
            gathered: list[Any] = [None] * self.ctx.world_size
            dist.all_gather_object(gathered, rngs[0])
            rngs = gathered
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rngs,
            "iteration": self.iteration,
            "elapsed": self.elapsed,
            "config": self.run_config,
        }

    def restore(self, path: Path) -> None:
        """Continue from the checkpoint at `path`."""
        state = load_checkpoint(path)
        if state["config"] != self.run_config:
            raise ValueError(f"{path}: the checkpoint was written with another configuration")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        self.iteration = int(state["iteration"])
        self.elapsed = float(state["elapsed"])
        if len(state["rng"]) == self.ctx.world_size:
            set_rng_state(state["rng"][self.ctx.rank])
        else:
            log.warning(
                "checkpoint has RNG states of %d ranks, this job has %d: reseeding",
                len(state["rng"]),
                self.ctx.world_size,
            )
            torch.manual_seed(self.config.seed + 7919 * self.iteration + self.ctx.rank)
        log.info("resumed %s at iteration %d", self.run.path, self.iteration)

    def save(self) -> None:
        state = self.state()
        if self.ctx.is_main:
            save_checkpoint(state, self.run.last_checkpoint)
        barrier(self.ctx)

    # -- one iteration --------------------------------------------------------------------

    def step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Forward, backward and optimiser step on one batch; returns the detached losses."""
        batch = batch.to(self.ctx.device, non_blocking=True)
        with self._autocast():
            losses = self.wrapped(batch.images, batch.targets)
        unknown = set(losses) - set(LOSS_KEYS)
        if unknown:
            raise KeyError(f"the model reported unknown loss keys {sorted(unknown)}")
        total = torch.stack([v.float() for v in losses.values()]).sum()
        if not torch.isfinite(total):
            bad = {k: float(v.detach()) for k, v in losses.items()}
            raise FloatingPointError(f"non-finite loss at iteration {self.iteration + 1}: {bad}")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        if self.config.clip_grad_norm is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return {"loss": total.detach(), **{k: v.detach() for k, v in losses.items()}}

    def _autocast(self) -> torch.autocast:
        """float16 autocast on CUDA (`amp`), bfloat16 on the CPU (`cpu_autocast`), or none."""
        if self.cpu_autocast:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return torch.autocast(self.ctx.device.type, enabled=self.amp)

    # -- the loop ---------------------------------------------------------------------------

    def fit(self, *, resume: bool = False, stop_at: int | None = None) -> TrainResult:
        """Train to `config.iterations` (or only to `stop_at`, checkpointing there), resuming
        from the last checkpoint if asked."""
        self._open(resume)
        start = self.iteration
        stop = self.config.iterations if stop_at is None else min(stop_at, self.config.iterations)
        loader, sampler = train_loader(
            self.source,
            self.data,
            batch_per_rank=self.config.batch_size // self.ctx.world_size,
            iterations=max(stop, start),
            start_iteration=start,
            seed=self.config.seed,
            rank=self.ctx.rank,
            world_size=self.ctx.world_size,
        )
        sink = MetricsLog(
            self.run, start, enabled=self.ctx.is_main, tensorboard=self.config.tensorboard
        )
        bar = tqdm(
            total=self.config.iterations,
            initial=start,
            desc=self.run.path.name,
            unit="it",
            disable=not (self.progress and self.ctx.is_main),
            dynamic_ncols=True,
        )
        try:
            last = self._loop(loader, sampler, sink, bar, start=start, stop=stop)
        finally:
            bar.close()
            sink.close()
        self._write_timings(start)
        return TrainResult(self.iteration, start, self.elapsed, last)

    def _open(self, resume: bool) -> None:
        if self.run.last_checkpoint.exists() and not resume:
            raise FileExistsError(
                f"{self.run.last_checkpoint} exists: pass resume=True (--resume) to continue "
                "that run, or choose a new run directory"
            )
        if self.ctx.is_main:
            self.run.start(self.run_config, resume=resume, world_size=self.ctx.world_size)
        barrier(self.ctx)
        if resume and self.run.last_checkpoint.exists():
            self.restore(self.run.last_checkpoint)
        if self.ctx.is_main:  # evaluations past the checkpoint are made again
            CurveLog(self.run.curve).truncate(self.iteration)

    def _loop(
        self,
        loader: Iterable[Batch],
        sampler: TrainBatchSampler,
        sink: MetricsLog,
        bar: tqdm[Any],
        *,
        start: int,
        stop: int,
    ) -> dict[str, float]:
        last: dict[str, float] = {}
        clock = time.perf_counter()
        for batch in loader:
            lr = float(self.optimizer.param_groups[0]["lr"])
            losses = self.step(batch)
            self.iteration += 1
            now = time.perf_counter()
            self.elapsed, clock = self.elapsed + now - clock, now
            bar.update(1)
            if self._due(self.config.log_every, 1):
                last = reduce_mean({k: float(v) for k, v in losses.items()}, self.ctx)
                entry = {"iteration": self.iteration, "lr": lr, "time": self.elapsed}
                sink.write({**entry, "epoch": sampler.epoch_of(self.iteration - 1), **last})
                bar.set_postfix(loss=f"{last['loss']:.3f}", lr=f"{lr:.2e}", refresh=False)
            if self.iteration in self.evaluations:
                self._evaluate()
                clock = time.perf_counter()  # evaluation time is not training time
            if self._due(self.config.checkpoint_every, stop):
                self.save()
                clock = time.perf_counter()  # checkpoint time is not training time
        return last

    def _evaluate(self) -> None:
        """`on_evaluation` at this iteration, leaving no trace in the training: the random
        states and every module's train/eval mode are as before."""
        assert self.on_evaluation is not None
        state = rng_state()
        modes = [(m, m.training) for m in self.model.modules()]
        try:
            self.on_evaluation(self.iteration)
        finally:
            set_rng_state(state)
            for module, training in modes:
                module.training = training

    def _due(self, every: int, *also: int) -> bool:
        """Every `every` iterations, at the last one, and at the iterations in `also`."""
        i = self.iteration
        return i % every == 0 or i == self.config.iterations or i in also

    def _write_timings(self, start: int) -> None:
        if not self.ctx.is_main:
            return
        if self.ctx.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(self.ctx.device)
        else:  # ru_maxrss is in KiB on Linux: the whole process, the closest CPU analogue
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        per_iteration = self.elapsed / self.iteration if self.iteration else None
        self.run.update_json(
            self.run.timings,
            {
                "train_seconds": self.elapsed,
                "train_seconds_per_iteration": per_iteration,
                "train_iterations": self.iteration,
                "train_iterations_this_session": self.iteration - start,
                "peak_memory_bytes": int(peak),
                "device": str(self.ctx.device),
                "world_size": self.ctx.world_size,
            },
        )
