"""`nox -s reproduce`: the torchrun commands it builds, its dataset checks, and a 1-process
CPU (gloo) dry run on the synthetic data, which has the Cityscapes layout."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark import reproduce

pytestmark = pytest.mark.needs_torch

ROOT = Path(__file__).resolve().parents[2]


def test_the_command_of_a_run_follows_the_gpus() -> None:
    command = reproduce.run_command(
        "combined",
        dataset="cityscapes",
        data_root="/data/cityscapes",
        output="runs/cityscapes",
        gpus=8,
        images_per_gpu=1,
        device=None,
        extra=["--set", "data.workers=8"],
    )
    assert command[:4] == [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    assert command[4:8] == ["--nproc-per-node=8", "-m", "benchmark.runs", "combined"]
    text = " ".join(command)
    assert "--dataset cityscapes --data-root /data/cityscapes --output runs/cityscapes" in text
    assert "--batch-size 8 --resume" in text
    assert command[-2:] == ["--set", "data.workers=8"]
    two = reproduce.run_command(
        "independent",
        dataset="vistas",
        data_root="v",
        output="o",
        gpus=2,
        images_per_gpu=2,
        device="cuda",
        extra=[],
    )
    assert "--nproc-per-node=2" in two
    assert two[two.index("--batch-size") + 1] == "4"
    assert two[-2:] == ["--device", "cuda"]


def test_print_only_lists_every_named_run(
    synthetic_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--dataset", "cityscapes", "--data-root", str(synthetic_root), "--gpus", "4"]
    assert reproduce.main([*argv, "--print-only", "--", "--set", "data.workers=8"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    for line, run in zip(lines, reproduce.RUNS, strict=True):
        assert f" benchmark.runs {run} " in line
        assert "--nproc-per-node=4" in line
        assert line.endswith("--set data.workers=8")


def test_a_missing_or_unprepared_dataset_is_explained(
    tmp_path: Path, synthetic_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "cityscapes"
    argv = ["--dataset", "cityscapes", "--gpus", "8", "--print-only"]
    assert reproduce.main([*argv, "--data-root", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"the data root {missing} does not exist" in err
    assert "csCreatePanopticImgs" in err
    # images there, but gtFine not converted to COCO panoptic
    shutil.copytree(synthetic_root / "leftImg8bit", missing / "leftImg8bit")
    assert reproduce.main([*argv, "--data-root", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing / "gtFine" / "cityscapes_panoptic_train.json") + ": file not found" in err
    assert str(missing / "gtFine" / "cityscapes_panoptic_val.json") + ": file not found" in err
    assert "--set-names train" in err
    assert reproduce.main(["--dataset", "cityscapes", "--data-root", "x", "--gpus", "0"]) == 2
    assert "--gpus and --images-per-gpu must be >= 1" in capsys.readouterr().err
    argv = ["--dataset", "cityscapes", "--data-root", str(synthetic_root), "--gpus", "8"]
    assert reproduce.main([*argv, "--", "--set", "training.lr=fast"]) == 2
    assert "run independent: config training.lr: expected float" in capsys.readouterr().err


@pytest.mark.slow
def test_one_process_gloo_dry_run(
    synthetic_root: Path, tmp_path: Path, checkout_env: dict[str, str]
) -> None:
    """The whole path (dataset check, torchrun, a process group of one, training, sharded
    evaluation, report) with the tiny model for 2 iterations."""
    output = tmp_path / "runs"
    command = [sys.executable, "-m", "benchmark.reproduce", "--dataset", "cityscapes"]
    command += ["--data-root", str(synthetic_root), "--gpus", "1", "--device", "cpu"]
    command += ["--runs", "combined", "--output", str(output), "--"]
    command += ["--preset", "tiny-synthetic", "--iterations", "2", "--no-progress"]
    for setting in (
        "data.augmentation.short_side=64",
        "data.augmentation.test_short_side=64",
        "data.augmentation.scale_range=[1.0, 1.0]",
        "data.workers=0",
        "fvcore=false",
        "training.tensorboard=false",
    ):
        command += ["--set", setting]
    done = subprocess.run(
        command, env=checkout_env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    run = output / "combined"
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["dataset"] == "cityscapes"
    assert config["training"]["batch_size"] == 1
    assert config["training"]["iterations"] == 2
    assert json.loads((run / "metrics.json").read_text())["n_images"] == 19
    environment = json.loads((run / "environment.json").read_text())
    assert environment["world_size"] == 1
    assert "rank 0 of 1 joined (gloo)" in done.stdout + done.stderr
    assert f"report: {output / 'report' / 'report.html'}" in done.stdout
    assert (output / "report" / "report.html").is_file()
