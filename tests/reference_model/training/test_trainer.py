"""The trainer in one process: the run directory it writes, resuming, its refusals, and its
evaluations along the way (curve.jsonl)."""

from __future__ import annotations

import importlib.util
import json
import random
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from reference_model.config import from_dict, parse_overrides, to_dict, with_overrides
from reference_model.data import AugmentationConfig, DataConfig, synthetic
from reference_model.training import (
    DistributedContext,
    RunDirectory,
    Trainer,
    TrainingConfig,
    load_checkpoint,
    save_checkpoint,
    setup,
)
from reference_model.training.curve import CurveLog, evaluation_iterations

pytestmark = pytest.mark.needs_torch

DATA_AUG = AugmentationConfig(short_side=32, scale_range=(0.75, 1.25))


def _trainer(
    root: Path, run: Path, toy: ModuleType, model: nn.Module | None = None, **overrides: Any
) -> Trainer:
    data = DataConfig(dataset="synthetic", root=str(root), workers=0, augmentation=DATA_AUG)
    settings: dict[str, Any] = {
        "iterations": 6,
        "milestones": (4,),
        "lr": 0.05,
        "warmup_iterations": 2,
        "batch_size": 2,
        "checkpoint_every": 3,
        "log_every": 2,
        "tensorboard": False,
    }
    config = TrainingConfig(**{**settings, **overrides})
    source = synthetic(root, "train")
    torch.manual_seed(0)
    model = model or toy.ToyPanopticNet(source.classes.n_classes)
    return Trainer(
        model,
        source=source,
        data=data,
        config=config,
        run=RunDirectory(run),
        run_config={"model": {"toy": True}, "data": to_dict(data), "training": to_dict(config)},
        ctx=setup(device="cpu"),
        progress=False,
    )


def test_run_directory_contents(synthetic_root: Path, tmp_path: Path, toy: ModuleType) -> None:
    result = _trainer(synthetic_root, tmp_path / "run", toy, tensorboard=True).fit()
    run = tmp_path / "run"
    # TensorBoard events are written when tensorboard is installed (it is optional).
    has_tensorboard = importlib.util.find_spec("tensorboard") is not None
    assert bool(list(run.glob("tensorboard/events.out.tfevents.*"))) == has_tensorboard
    assert result.iterations == 6
    config = json.loads((run / "config.json").read_text())
    assert config["training"]["lr"] == 0.05
    assert config["data"]["augmentation"]["scale_range"] == [0.75, 1.25]
    env = json.loads((run / "environment.json").read_text())
    assert {"git_commit", "git_dirty", "command", "versions", "hardware", "start_time"} <= set(env)
    assert env["versions"]["torch"] == metadata.version("torch")
    assert env["git_commit"] is None or len(env["git_commit"]) == 40
    entries = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [e["iteration"] for e in entries] == [1, 2, 4, 6]  # the first, every 2nd, the last
    for e in entries:
        assert set(e) == {"iteration", "lr", "loss", "semantic", "rpn_objectness", "time", "epoch"}
        assert e["loss"] == pytest.approx(e["semantic"] + e["rpn_objectness"], rel=1e-5)
    # The lr used by the n-th iteration (step n - 1): warm-up from 0.05/3 reaching 0.05 at
    # step 2 (step 1: 0.05 (1/3 + 2/3 * 1/2)); x0.1 from step 4 (the 5th iteration) on.
    assert [e["lr"] for e in entries] == pytest.approx([0.05 / 3, 0.05 * 2 / 3, 0.05, 0.005])
    assert [e["epoch"] for e in entries] == [0, 0, 0, 0]  # 12 of 19 images seen
    assert entries[-1]["loss"] < entries[0]["loss"]
    timings = json.loads((run / "timings.json").read_text())
    assert timings["train_seconds"] > 0
    assert timings["device"] == "cpu"
    assert timings["peak_memory_bytes"] > 0
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["iteration"] == 6
    assert state["config"] == config
    assert not list(run.rglob("*.part"))


def test_stop_and_resume_in_process_equals_straight(
    synthetic_root: Path, tmp_path: Path, toy: ModuleType
) -> None:
    straight = _trainer(synthetic_root, tmp_path / "a", toy)
    straight.fit()
    first = _trainer(synthetic_root, tmp_path / "b", toy)
    assert first.fit(stop_at=4).iterations == 4
    second = _trainer(synthetic_root, tmp_path / "b", toy)
    result = second.fit(resume=True)
    assert (result.start_iteration, result.iterations) == (4, 6)
    a, b = straight.model.state_dict(), second.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    log_a = RunDirectory(tmp_path / "a").read_log()
    log_b = RunDirectory(tmp_path / "b").read_log()
    assert [{k: v for k, v in e.items() if k != "time"} for e in log_a] == [
        {k: v for k, v in e.items() if k != "time"} for e in log_b
    ]


def test_refusals(synthetic_root: Path, tmp_path: Path, toy: ModuleType) -> None:
    _trainer(synthetic_root, tmp_path / "run", toy).fit(stop_at=3)
    with pytest.raises(FileExistsError, match=r"last\.pt exists: pass resume=True"):
        _trainer(synthetic_root, tmp_path / "run", toy).fit()
    with pytest.raises(ValueError, match=r"another configuration \(differs in \['training.lr'\]"):
        _trainer(synthetic_root, tmp_path / "run", toy, lr=0.1).fit(resume=True)
    two_ranks = DistributedContext(rank=0, world_size=2, local_rank=0, device=torch.device("cpu"))
    with pytest.raises(ValueError, match="batch_size 3 is not divisible by 2 processes"):
        Trainer(
            nn.Linear(1, 1),
            source=synthetic(synthetic_root, "train"),
            data=DataConfig(dataset="synthetic", root=str(synthetic_root)),
            config=TrainingConfig(batch_size=3),
            run=RunDirectory(tmp_path / "x"),
            run_config={},
            ctx=two_ranks,
        )


class _Broken(nn.Module):
    def __init__(self, losses: dict[str, float]) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))
        self.losses = losses

    def forward(self, images: torch.Tensor, targets: list[Any]) -> dict[str, torch.Tensor]:
        return {k: self.w * v for k, v in self.losses.items()}


def test_non_finite_and_unknown_losses_stop_the_run(
    synthetic_root: Path, tmp_path: Path, toy: ModuleType
) -> None:
    nan = _trainer(synthetic_root, tmp_path / "nan", toy, model=_Broken({"semantic": float("nan")}))
    with pytest.raises(
        FloatingPointError, match=r"non-finite loss at iteration 1: \{'semantic': nan\}"
    ):
        nan.fit()
    unknown = _trainer(synthetic_root, tmp_path / "unk", toy, model=_Broken({"semantc": 1.0}))
    with pytest.raises(KeyError, match=r"unknown loss keys \['semantc'\]"):
        unknown.fit()


def test_checkpoint_writes_are_atomic_and_loads_are_safe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "checkpoints" / "last.pt"
    state = {"model": {"w": torch.ones(2)}, "optimizer": {}, "scheduler": {}, "rng": []}
    save_checkpoint({**state, "iteration": 1, "config": {}}, path)

    def crash(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({**state, "iteration": 2, "config": {}}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["iteration"] == 1  # the previous checkpoint is intact
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temporary left
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"last\.pt: not a readable checkpoint"):
        load_checkpoint(path)

    class Evil:
        def __reduce__(self) -> tuple[Any, ...]:
            return (print, ("pwned",))

    torch.save({"version": 1, "evil": Evil()}, path)
    with pytest.raises(ValueError, match=r"not a readable checkpoint.*Unpickl"):
        load_checkpoint(path)  # weights_only refuses arbitrary objects


def test_data_and_training_configs_round_trip_and_take_checked_overrides() -> None:
    """The one config mechanism of reference_model.config serves every config dataclass,
    including optional fields (`X | None`)."""
    data = DataConfig(dataset="vistas", vistas_version="v1.2")
    assert from_dict(DataConfig, json.loads(json.dumps(to_dict(data)))) == data
    training = TrainingConfig(clip_grad_norm=5.0)
    assert from_dict(TrainingConfig, to_dict(training)) == training
    assert from_dict(TrainingConfig, to_dict(TrainingConfig())).clip_grad_norm is None
    overrides = parse_overrides(["augmentation.short_side=512", "root=/x"])
    assert with_overrides(data, overrides) == DataConfig(
        dataset="vistas",
        vistas_version="v1.2",
        root="/x",
        augmentation=AugmentationConfig(short_side=512),
    )
    assert with_overrides(training, parse_overrides(["milestones=[3, 4]", "lr=1"])).lr == 1.0
    assert with_overrides(training, {"clip_grad_norm": None}).clip_grad_norm is None
    with pytest.raises(KeyError, match="unknown key 'lrr'"):
        with_overrides(training, parse_overrides(["lrr=0.1"]))
    with pytest.raises(TypeError, match=r"config lr: expected float, got 'fast'"):
        with_overrides(training, parse_overrides(["lr=fast"]))
    with pytest.raises(TypeError, match=r"config clip_grad_norm: expected float"):
        with_overrides(training, {"clip_grad_norm": "big"})
    with pytest.raises(KeyError, match="unknown key"):
        from_dict(TrainingConfig, {"bogus": 1})
    with pytest.raises(ValueError, match="must look like key=value"):
        parse_overrides(["lr"])


def test_gradient_clipping_bounds_the_first_update(
    synthetic_root: Path, tmp_path: Path, toy: ModuleType
) -> None:
    """First SGD step (no momentum yet, no weight decay): the update is lr * g with
    ||g|| <= clip_grad_norm, so the parameters move by at most lr * clip in norm."""
    model = _Broken({"semantic": 1e6})
    before = model.w.detach().clone()
    trainer = _trainer(
        synthetic_root,
        tmp_path / "run",
        toy,
        model=model,
        iterations=1,
        clip_grad_norm=0.5,
        weight_decay=0.0,
        warmup_iterations=0,
        lr=1.0,
    )
    trainer.fit()
    assert float((model.w.detach() - before).abs()) == pytest.approx(0.5, rel=1e-6)
    unclipped = _Broken({"semantic": 1e6})
    _trainer(
        synthetic_root,
        tmp_path / "run2",
        toy,
        model=unclipped,
        iterations=1,
        weight_decay=0.0,
        warmup_iterations=0,
        lr=1.0,
    ).fit()
    assert float((unclipped.w.detach() - before).abs()) == pytest.approx(1e6)


def test_evaluation_iterations() -> None:
    # quarters: the first iteration at or past k/4 of the schedule
    assert evaluation_iterations(500, None) == (125, 250, 375, 500)
    assert evaluation_iterations(6, None) == (2, 3, 5, 6)  # 1.5, 3, 4.5, 6 rounded up
    assert evaluation_iterations(3, None) == (1, 2, 3)  # 0.75 and 1.5 -> 1 and 2
    assert evaluation_iterations(10, 4) == (4, 8, 10)  # every 4th and the last
    assert evaluation_iterations(8, 4) == (4, 8)
    assert evaluation_iterations(10, 0) == ()
    with pytest.raises(ValueError, match="interval"):
        evaluation_iterations(10, -1)


def test_evaluations_leave_no_trace_in_the_training(
    synthetic_root: Path, tmp_path: Path, toy: ModuleType
) -> None:
    """A callback that draws from every generator and leaves the model in eval mode (the toy
    has dropout and batch norm: both would change the next steps) changes nothing."""
    straight = _trainer(synthetic_root, tmp_path / "a", toy)
    straight.fit()
    calls: list[int] = []
    hostile = _trainer(synthetic_root, tmp_path / "b", toy)

    def evaluate(iteration: int) -> None:
        calls.append(iteration)
        torch.rand(100)
        np.random.rand(100)  # noqa: NPY002 (the global generator is the point)
        random.random()
        hostile.model.eval()

    hostile.evaluations, hostile.on_evaluation = frozenset(evaluation_iterations(6, None)), evaluate
    hostile.fit()
    assert calls == [2, 3, 5, 6]
    a, b = straight.model.state_dict(), hostile.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert hostile.model.training
    log_a = RunDirectory(tmp_path / "a").read_log()
    log_b = RunDirectory(tmp_path / "b").read_log()
    drop = {"time"}
    assert [{k: v for k, v in e.items() if k not in drop} for e in log_a] == [
        {k: v for k, v in e.items() if k not in drop} for e in log_b
    ]


def test_a_resumed_run_evaluates_each_iteration_once(
    synthetic_root: Path, tmp_path: Path, toy: ModuleType
) -> None:
    run = tmp_path / "run"
    curve = CurveLog(RunDirectory(run).curve)
    calls: list[int] = []

    def evaluate(iteration: int) -> None:
        calls.append(iteration)
        curve.add({"iteration": iteration, "pq": iteration / 10})

    first = _trainer(synthetic_root, run, toy)
    first.evaluations, first.on_evaluation = frozenset((2, 3, 5, 6)), evaluate
    first.fit(stop_at=4)  # a checkpoint at 4
    assert [e["iteration"] for e in curve.entries()] == [2, 3]
    # As if killed after the evaluation at 5 but before a checkpoint after it.
    curve.add({"iteration": 5, "pq": -1.0})
    second = _trainer(synthetic_root, run, toy)
    second.evaluations, second.on_evaluation = frozenset((2, 3, 5, 6)), evaluate
    second.fit(resume=True)
    assert calls == [2, 3, 5, 6]
    entries = curve.entries()
    assert [e["iteration"] for e in entries] == [2, 3, 5, 6]
    assert [e["pq"] for e in entries] == [0.2, 0.3, 0.5, 0.6]  # the stale 5 made again
    lines = RunDirectory(run).curve.read_text().splitlines()
    assert len(lines) == 4
    # A finished run resumed again evaluates nothing and keeps its curve.
    third = _trainer(synthetic_root, run, toy)
    third.evaluations, third.on_evaluation = frozenset((2, 3, 5, 6)), evaluate
    third.fit(resume=True)
    assert calls == [2, 3, 5, 6]
    assert curve.entries() == entries


class _AutocastProbe(nn.Module):
    """Records the dtype its convolution runs in under the trainer's step."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 1)
        self.dtypes: list[torch.dtype] = []

    def forward(
        self, images: torch.Tensor, targets: list[dict[str, torch.Tensor]]
    ) -> dict[str, torch.Tensor]:
        out = self.conv(images)
        self.dtypes.append(out.dtype)
        return {"semantic": out.float().square().mean()}


@pytest.mark.parametrize(
    ("cpu_autocast", "dtype"), [(False, torch.float32), (True, torch.bfloat16)]
)
def test_cpu_autocast_runs_the_forward_in_bfloat16(
    synthetic_root: Path, tmp_path: Path, toy: ModuleType, cpu_autocast: bool, dtype: torch.dtype
) -> None:
    probe = _AutocastProbe()
    _trainer(
        synthetic_root, tmp_path / "run", toy, model=probe, iterations=2, cpu_autocast=cpu_autocast
    ).fit()
    assert probe.dtypes == [dtype, dtype]
    assert probe.conv.weight.dtype == torch.float32  # the parameters stay float32
