"""One run end to end: build the model, train it, evaluate it, measure its compute cost.

    run_experiment(config, run_dir)   # in one process, or on every rank of a torchrun job

writes the run directory of docs/contracts.md §4: config.json (the `RunConfig`), environment,
log, checkpoints, predictions, metrics.json, timings.json and cost.json, and curve.jsonl: PQ
along the way, on a fixed subset of the val split (`CurveConfig`). With `resume`, a run
interrupted anywhere continues from its last checkpoint, and a finished one is left as it is.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from panoptic_metrics import PanopticImage, RunAccumulator, RunResults, Segments
from panoptic_metrics.distributed import all_reduce_run
from panoptic_metrics.io import read_json, write_json_atomic

from reference_model.build import build_model
from reference_model.config import Form, ModelConfig, to_dict
from reference_model.data import (
    DataConfig,
    DatasetError,
    DatasetSource,
    eval_loader,
    open_split,
    scaled_size,
)
from reference_model.data.decode import load_image
from reference_model.evaluation import (
    EvaluationConfig,
    GroundTruth,
    evaluate,
    file_name_of,
    predict,
)
from reference_model.model import PanopticModel
from reference_model.prediction import to_coco_panoptic
from reference_model.training import RunDirectory, Trainer, TrainingConfig, load_checkpoint
from reference_model.training.curve import CurveLog, evaluation_iterations
from reference_model.training.distributed import DistributedContext, barrier

from .compute_cost import cost_document, require_fvcore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    """The network of a run: its form, the preset it started from and the final config."""

    form: Form
    preset: str
    config: ModelConfig


@dataclass(frozen=True)
class CurveConfig:
    """PQ along the way (curve.jsonl): when the trainer evaluates, and on which images.

    The evaluations run on a fixed subset of the val split (evenly spaced over its records,
    the same images each time) so that they add little to the run: 16 images, four times,
    cost about 1.3 evaluations of the demo's 50 val images. Their numbers are that subset's,
    not metrics.json's (the whole split, evaluated once at the end). The synthetic runs (the
    demo's) use the whole val split instead (`benchmark.runs.SYNTHETIC_CURVE`).
    """

    every: int | None = None  # iterations between evaluations; None: at 25/50/75/100%; 0: none
    images: int | None = 16  # images of the val split evaluated; None: all of them

    def __post_init__(self) -> None:
        if self.every is not None and self.every < 0:
            raise ValueError(f"curve.every must be >= 0 or null, got {self.every}")
        if self.images is not None and self.images < 1:
            raise ValueError(f"curve.images must be >= 1 or null, got {self.images}")


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; config.json is `to_dict` of it."""

    name: str
    model: ModelSpec
    data: DataConfig
    training: TrainingConfig
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    fvcore: bool = True  # cost.json: also fvcore's count of the whole test-time computation
    curve: CurveConfig = field(default_factory=CurveConfig)


def open_splits(config: RunConfig) -> tuple[DatasetSource, DatasetSource]:
    """The train and val splits, checked against the model's classes (DatasetError if not)."""
    train = open_split(config.data, config.data.train_split)
    val = open_split(config.data, config.data.val_split)
    model = config.model.config
    for source in (train, val):
        classes = source.classes
        if (classes.n_stuff, classes.n_things) != (model.num_stuff, model.num_things):
            raise DatasetError(
                f"{source.name} {source.split} has {classes.n_stuff} stuff and "
                f"{classes.n_things} thing classes, the model {model.num_stuff} and "
                f"{model.num_things} (preset {config.model.preset!r}): choose a preset for "
                "this dataset or override model.config.num_stuff / num_things"
            )
    return train, val


def is_finished(config: RunConfig, run: RunDirectory) -> bool:
    """Whether `run` holds this configuration, fully trained and evaluated."""
    if not (run.config.exists() and run.metrics.exists() and run.last_checkpoint.exists()):
        return False
    if read_json(run.config) != json.loads(json.dumps(to_dict(config))):
        return False
    done = load_checkpoint(run.last_checkpoint)["iteration"]
    return bool(done == config.training.iterations) and (
        run.metrics.stat().st_mtime >= run.last_checkpoint.stat().st_mtime
    )


def run_experiment(
    config: RunConfig,
    run_dir: str | Path,
    *,
    ctx: DistributedContext,
    resume: bool = False,
    progress: bool = True,
) -> Path:
    """Train and evaluate the run `config` in `run_dir`; returns the path of its metrics.json.

    Every rank of a torchrun job calls it. With `resume`, training continues from the last
    checkpoint and a run that is already finished is not run again. `progress`: tqdm bars.
    """
    run = RunDirectory(run_dir)
    if resume and is_finished(config, run):
        log.info("%s is trained and evaluated already: nothing to do", run.path)
        return run.metrics
    if config.fvcore:  # cost.json's count comes last: without fvcore, stop before training
        require_fvcore(config.name, "set fvcore=false")
    train_source, val_source = open_splits(config)
    torch.manual_seed(config.training.seed)
    model = build_model(form=config.model.form, config=config.model.config)
    trainer = Trainer(
        model,
        source=train_source,
        data=config.data,
        config=config.training,
        run=run,
        run_config=to_dict(config),
        ctx=ctx,
        weight_decay_norm=config.model.config.weight_decay_norm,
        progress=progress,
        evaluations=evaluation_iterations(config.training.iterations, config.curve.every),
        on_evaluation=lambda iteration: curve_point(
            model, curve_subset(val_source, config.curve.images), config, run, ctx, iteration
        ),
    )
    trainer.fit(resume=resume)
    evaluate(
        trainer.model,
        source=val_source,
        data=config.data,
        run=run,
        ctx=ctx,
        config=config.evaluation,
        progress=progress,
    )
    if ctx.is_main:
        height, width = test_size(val_source, config.data)
        write_json_atomic(cost_of(config, height, width), run.path / "cost.json")
    barrier(ctx)
    return run.metrics


def curve_subset(source: DatasetSource, images: int | None) -> DatasetSource:
    """`images` records of `source` evenly spaced over it (all of them for None)."""
    records = source.records
    if images is None or images >= len(records):
        return source
    picked = tuple(records[k * len(records) // images] for k in range(images))
    return dataclasses.replace(source, records=picked)


def headline(results: RunResults) -> dict[str, float | None]:
    """The numbers of a curve.jsonl entry (`CURVE_KEYS`); None where undefined (NaN)."""
    panoptic = results.panoptic
    values = {
        "pq": panoptic.pq,
        "pq_dagger": panoptic.pq_dagger,
        "pq_th": panoptic.things.pq,
        "pq_st": panoptic.stuff.pq,
        "miou": results.miou.miou if results.miou is not None else float("nan"),
    }
    return {k: (None if math.isnan(v) else float(v)) for k, v in values.items()}


def curve_point(
    model: PanopticModel,
    source: DatasetSource,
    config: RunConfig,
    run: RunDirectory,
    ctx: DistributedContext,
    iteration: int,
) -> None:
    """Evaluate `model` on `source` in memory (sharded over the ranks, nothing written but the
    entry) and add the headline numbers at `iteration` to the run's curve.jsonl."""
    truth = GroundTruth(source)
    accumulator = RunAccumulator(truth.categories, mode=config.evaluation.mode, miou=True)
    batches = eval_loader(
        source,
        config.data,
        batch_size=config.evaluation.batch_size,
        rank=ctx.rank,
        world_size=ctx.world_size,
    )
    for item in predict(model, batches, device=ctx.device, amp=config.evaluation.amp):
        gt = truth.image(item.image_id)
        name = file_name_of(item.image_id)  # as the final evaluation reads its predictions
        _, annotation = to_coco_panoptic(
            item.prediction,
            category_ids=source.classes.category_ids,
            image_id=item.image_id,
            file_name=name,
        )
        segments = Segments.from_info(annotation["segments_info"], source=name)
        pred = PanopticImage(item.prediction.panoptic.numpy(), segments, item.image_id, name)
        accumulator.update(
            gt, pred, gt_semantic=truth.semantic(gt), pred_semantic=item.prediction.semantic.numpy()
        )
    results = (all_reduce_run(accumulator) if ctx.distributed else accumulator).compute()
    if ctx.is_main:
        entry = {"iteration": iteration, "images": len(source.records), **headline(results)}
        CurveLog(run.curve).add(entry)
        log.info("%s at iteration %d: %s", run.path.name, iteration, entry)


def test_size(source: DatasetSource, data: DataConfig) -> tuple[int, int]:
    """The (height, width) the model sees at test time: the first image scaled as evaluated."""
    image = load_image(source.records[0].image_path)
    aug = data.augmentation
    return scaled_size(image.shape[0], image.shape[1], aug.test_short_side, aug.max_long_side)


def cost_of(config: RunConfig, height: int, width: int) -> dict[str, Any]:
    """cost.json of the run's model (its form) at the test size."""
    return cost_document(
        config.model.config,
        preset_name=config.model.preset,
        forms=(config.model.form,),
        height=height,
        width=width,
        fvcore=config.fvcore,
    )
