"""Evaluate a model on a split into its run directory (docs/contracts.md §4).

    inference on this rank's shard -> panoptic fusion (in the model) -> predictions written as
    COCO panoptic -> panoptic_metrics' RunAccumulator (PQ/SQ/RQ/PQ†, per class and image, PQ
    over IoU thresholds, Boundary PQ if configured, mIoU, mask AP) -> merged over ranks by
    all_reduce_run -> PQ per Cityscapes category on Cityscapes-labelled data -> metrics.json,
    instances.json, timings

Runs in one process or on every rank of a torchrun job (each rank its shard of the images;
every rank must call it). The metrics computed here in memory are those `panoptic-metrics
evaluate` computes from the written files (the tests check it).
"""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass, replace
from typing import Literal

import torch
from panoptic_metrics import (
    DEFAULT_DILATION_RATIO,
    PanopticImage,
    RunAccumulator,
    RunResults,
    cityscapes_groups,
)
from panoptic_metrics.distributed import all_reduce_run
from panoptic_metrics.io import read_json
from tqdm import tqdm

from reference_model.data import DataConfig, DatasetSource, eval_loader
from reference_model.model import PanopticModel
from reference_model.training.distributed import DistributedContext, barrier
from reference_model.training.run_dir import RunDirectory

from .ground_truth import GroundTruth
from .inference import ImagePrediction, predict
from .writer import PredictionWriter

log = logging.getLogger(__name__)

# Datasets labelled with Cityscapes label ids: their runs report PQ per Cityscapes category.
CITYSCAPES_LABELLED = ("cityscapes", "synthetic")


@dataclass(frozen=True)
class EvaluationConfig:
    """How a split is evaluated."""

    batch_size: int = 1  # images per rank and batch (§5: one image per GPU at test time)
    mode: Literal["strict", "pixels"] = "strict"  # PQ as panopticapi ("strict") or by pixels
    max_detections: int = 100  # COCOeval's detections per image for mask AP (COCO's 100)
    amp: bool = True  # mixed precision where CUDA is used; ignored on the CPU
    boundary: bool = False  # also Boundary PQ (docs/metrics.md, "Boundary PQ")
    dilation_ratio: float = DEFAULT_DILATION_RATIO  # its band width / image diagonal

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.max_detections < 10:
            raise ValueError(f"max_detections must be >= 10, got {self.max_detections}")
        if not 0 < self.dilation_ratio < float("inf"):
            raise ValueError(f"dilation_ratio must be a number > 0, got {self.dilation_ratio}")


def evaluate(
    model: PanopticModel,
    *,
    source: DatasetSource,
    data: DataConfig,
    run: RunDirectory,
    ctx: DistributedContext,
    config: EvaluationConfig,
    progress: bool = True,
) -> RunResults:
    """Evaluate `model` on `source` (the split) and write the run's predictions, metrics.json
    and the inference part of timings.json (a tqdm bar on rank 0 with `progress`); every rank
    returns the merged results."""
    truth = GroundTruth(source)
    accumulator = RunAccumulator(
        truth.categories,
        mode=config.mode,
        miou=True,
        mask_ap=True,
        max_detections=config.max_detections,
        boundary=config.boundary,
        dilation_ratio=config.dilation_ratio,
    )
    writer = PredictionWriter(run.predictions, source.classes)
    loader = eval_loader(
        source, data, batch_size=config.batch_size, rank=ctx.rank, world_size=ctx.world_size
    )
    if ctx.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(ctx.device)
    bar = tqdm(
        total=len(source.records),
        desc=f"{run.path.name} eval",
        unit="img",
        disable=not (progress and ctx.is_main),
        dynamic_ncols=True,
    )
    seconds: list[float] = []
    with bar:
        for item in predict(model, loader, device=ctx.device, amp=config.amp):
            _add(accumulator, truth, writer.add(item.image_id, item.prediction), item)
            seconds.append(item.seconds)
            bar.update(ctx.world_size)  # the other ranks progress alike
    writer.finish(distributed=ctx.distributed, is_main=ctx.is_main)
    merged = all_reduce_run(accumulator) if ctx.distributed else accumulator
    results = merged.compute()
    groups = class_groups(source)
    if groups:
        results = replace(results, panoptic=results.panoptic.with_groups(groups))
    if ctx.is_main:
        _write_results(run, source, merged, results)
        _write_timings(run, ctx, sum(seconds) / max(len(seconds), 1))
    barrier(ctx)
    return results


def class_groups(source: DatasetSource) -> dict[str, tuple[int, ...]]:
    """The Cityscapes categories as class groups (docs/metrics.md, "PQ per class group"),
    restricted to the split's classes, for Cityscapes-labelled data; {} for other datasets. A
    category none of whose classes is evaluated is left out."""
    if source.name not in CITYSCAPES_LABELLED:
        return {}
    evaluated = set(source.classes.categories.ids.tolist())
    restricted = {
        name: tuple(i for i in ids if i in evaluated) for name, ids in cityscapes_groups().items()
    }
    return {name: ids for name, ids in restricted.items() if ids}


def _add(
    accumulator: RunAccumulator, truth: GroundTruth, pred: PanopticImage, item: ImagePrediction
) -> None:
    """One image into the metrics: panoptic, semantic (mIoU) and detections (mask AP)."""
    gt = truth.image(item.image_id)
    instances = item.prediction.instances
    accumulator.update(
        gt,
        pred,
        gt_semantic=truth.semantic(gt),
        pred_semantic=item.prediction.semantic.numpy(),
        detections={
            "labels": instances.labels.numpy(),
            "scores": instances.scores.numpy(),
            "masks": instances.masks.numpy(),
        },
    )


def _write_results(
    run: RunDirectory, source: DatasetSource, merged: RunAccumulator, results: RunResults
) -> None:
    """predictions/instances.json (every rank's detections) and metrics.json."""
    assert merged.mask_ap is not None
    merged.mask_ap.write_predictions(run.predictions / "instances.json")
    results.write_json(run.metrics, split=source.split, dataset=source.name)
    log.info(
        "%s: PQ %.3f, PQ† %.3f, mIoU %.3f, mask AP %.3f on %d images",
        run.path.name,
        results.panoptic.overall.pq,
        results.panoptic.overall.pq_dagger,
        results.miou.miou if results.miou else float("nan"),
        results.mask_ap.ap if results.mask_ap else float("nan"),
        len(results.panoptic.per_image),
    )


def _write_timings(run: RunDirectory, ctx: DistributedContext, per_image: float) -> None:
    """Inference seconds per image (rank 0's shard, in the model) and the peak memory so far."""
    if ctx.device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(ctx.device)
    else:  # ru_maxrss is in KiB on Linux: the whole process, the closest CPU analogue
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    before = read_json(run.timings) if run.timings.exists() else {}
    run.update_json(
        run.timings,
        {
            "inference_seconds_per_image": per_image,
            "inference_peak_memory_bytes": int(peak),
            "peak_memory_bytes": max(int(peak), int(before.get("peak_memory_bytes") or 0)),
            "device": str(ctx.device),
        },
    )
