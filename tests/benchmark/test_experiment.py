"""A named run end to end on tiny synthetic data: trained a few iterations, evaluated in
process, then checked against `panoptic-metrics evaluate` run on the predictions it wrote, and
against the same evaluation sharded over 2 gloo processes."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from panoptic_metrics import cityscapes_groups, evaluate_run

from benchmark import runs
from benchmark.experiment import RunConfig, is_finished
from reference_model.config import from_dict
from reference_model.training import RunDirectory

pytestmark = pytest.mark.needs_torch

ROOT = Path(__file__).resolve().parents[2]
# 64-pixel images (the network's largest stride), every detection kept and fused so that a
# barely trained model predicts things too, no fvcore trace.
TINY = [
    "--iterations",
    "6",
    "--set",
    "data.augmentation.short_side=64",
    "--set",
    "data.augmentation.test_short_side=64",
    "--set",
    "data.augmentation.scale_range=[1.0, 1.25]",
    "--set",
    "model.config.fusion.score_threshold=0.0",
    "--set",
    "model.config.roi.score_threshold=0.0",
    "--set",
    "model.config.fusion.min_stuff_area=16",
    "--set",
    "training.tensorboard=false",
    "--set",
    "fvcore=false",
    "--no-progress",
]


@pytest.fixture(scope="module")
def trained(synthetic_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """runs/combined after `python -m benchmark.runs` (in this process, one thread as in the
    subprocesses that evaluate it again: the same arithmetic)."""
    output = tmp_path_factory.mktemp("runs")
    args = ["combined", "--dataset", "synthetic", "--data-root", str(synthetic_root)]
    saved = torch.get_num_threads()
    try:
        assert runs.main([*args, "--output", str(output), *TINY, "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(saved)
    return output / "combined"


def _cli(run: Path, root: Path, output: Path, env: dict[str, str]) -> dict[str, Any]:
    """`panoptic-metrics evaluate` of the run's predictions, with the Cityscapes categories as
    its `--groups` file."""
    gt = root / "gtFine" / "cityscapes_panoptic_val"
    groups = output.with_name("groups.json")
    groups.write_text(json.dumps(cityscapes_groups()))
    command = [sys.executable, "-m", "panoptic_metrics", "evaluate", "--groups", str(groups)]
    command += ["--gt-json", f"{gt}.json", "--gt-folder", str(gt), "--no-progress"]
    command += ["--pred-json", str(run / "predictions" / "panoptic.json")]
    command += ["--pred-folder", str(run / "predictions" / "panoptic")]
    command += ["--workers", "1", "--output", str(output)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(output.read_text())  # type: ignore[no-any-return]


def test_in_process_metrics_equal_panoptic_metrics_evaluate(
    trained: Path, synthetic_root: Path, tmp_path: Path, checkout_env: dict[str, str]
) -> None:
    metrics = json.loads((trained / "metrics.json").read_text())
    cli = _cli(trained, synthetic_root, tmp_path / "cli.json", checkout_env)
    keys = ("pq", "sq", "rq", "pq_dagger", "things", "stuff", "per_class", "per_image", "pq_at")
    for key in (*keys, "groups"):
        assert metrics[key] == cli[key], key
    # every class of the synthetic data is a Cityscapes class: all seven categories, whole
    assert {k: tuple(g["category_ids"]) for k, g in metrics["groups"].items()} == (
        cityscapes_groups()
    )
    assert (metrics["mode"], metrics["n_images"]) == (cli["mode"], 19)
    # The comparison is not vacuous: things and stuff were predicted and some matched.
    assert metrics["things"]["n"] == 8
    assert sum(c["tp"] + c["fp"] for c in metrics["per_class"].values()) > 0
    predicted = json.loads((trained / "predictions" / "panoptic.json").read_text())
    things = {c["id"] for c in predicted["categories"] if c["isthing"]}
    kinds = {
        s["category_id"] in things for a in predicted["annotations"] for s in a["segments_info"]
    }
    assert kinds == {True, False}
    # mask AP: the same from the instances JSON on disk (panoptic_metrics' file entry)
    gt = synthetic_root / "gtFine" / "cityscapes_panoptic_val"
    files = evaluate_run(
        f"{gt}.json",
        gt,
        trained / "predictions" / "panoptic.json",
        trained / "predictions" / "panoptic",
        detections_json=trained / "predictions" / "instances.json",
        workers=1,
        progress=False,
    )
    assert files.mask_ap is not None
    assert metrics["mask_ap"] == files.mask_ap.to_json()
    assert metrics["mask_ap"]["n_predictions"] > 0
    assert 0.0 <= metrics["miou"] <= 1.0
    assert metrics["split"] == "val"
    assert metrics["dataset"] == "synthetic"


def test_the_run_directory_holds_every_file_of_the_contract(trained: Path) -> None:
    config = from_dict(RunConfig, json.loads((trained / "config.json").read_text()))
    assert config.name == "combined"
    assert (config.model.form, config.model.preset) == ("combined", "tiny-synthetic")
    assert config.training.iterations == 6
    timings = json.loads((trained / "timings.json").read_text())
    for key in ("train_seconds_per_iteration", "inference_seconds_per_image"):
        assert timings[key] > 0
    assert timings["peak_memory_bytes"] >= timings["inference_peak_memory_bytes"] > 0
    cost = json.loads((trained / "cost.json").read_text())
    assert (cost["preset"], cost["height"], cost["width"]) == ("tiny-synthetic", 64, 128)
    assert cost["combined"]["params"] > 0
    log = RunDirectory(trained).read_log()
    assert [e["iteration"] for e in log][-1] == 6
    assert is_finished(config, RunDirectory(trained))
    stamp = (trained / "metrics.json").stat().st_mtime_ns
    args = ["combined", "--dataset", "synthetic", "--data-root", config.data.root]
    assert runs.main([*args, "--output", str(trained.parent), *TINY, "--resume"]) == 0
    assert (trained / "metrics.json").stat().st_mtime_ns == stamp, "a finished run ran again"


def test_the_curve_holds_the_quarters_of_the_schedule(trained: Path) -> None:
    lines = (trained / "curve.jsonl").read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    # 6 iterations: the first at or past 1.5, 3, 4.5 and 6; each once
    assert [e["iteration"] for e in entries] == [2, 3, 5, 6]
    for e in entries:
        assert set(e) == {"iteration", "images", "pq", "pq_dagger", "pq_th", "pq_st", "miou"}
        assert e["images"] == 19  # the synthetic runs' curve: every val image
        assert all(e[k] is None or 0.0 <= e[k] <= 1.0 for k in set(e) - {"iteration", "images"})
    assert entries[-1]["miou"] > 0


def test_evaluations_along_the_way_leave_metrics_json_as_it_was(
    trained: Path, synthetic_root: Path, tmp_path: Path
) -> None:
    """The same run without them (`--eval-every 0`) writes the same bytes."""
    args = ["combined", "--dataset", "synthetic", "--data-root", str(synthetic_root)]
    saved = torch.get_num_threads()
    try:
        command = [*args, "--output", str(tmp_path), *TINY, "--threads", "1", "--eval-every", "0"]
        assert runs.main(command) == 0
    finally:
        torch.set_num_threads(saved)
    plain = tmp_path / "combined"
    assert not (plain / "curve.jsonl").exists()
    assert (plain / "metrics.json").read_bytes() == (trained / "metrics.json").read_bytes()
    for name in ("panoptic.json", "instances.json"):
        assert (plain / "predictions" / name).read_bytes() == (
            trained / "predictions" / name
        ).read_bytes()


def _close(a: Any, b: Any, where: str = "") -> None:
    """Equal JSON, floats to 1e-12 relative (sums added in another order across ranks)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{where}[{k}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15), where
    else:
        assert a == b, where


@pytest.mark.slow
def test_evaluation_sharded_over_two_processes_equals_one(
    trained: Path, synthetic_root: Path, tmp_path: Path, checkout_env: dict[str, str]
) -> None:
    """The trained run evaluated again by 2 gloo ranks (torchrun; each its half of the images,
    merged through the metrics' state) writes the same metrics and predictions."""
    copy = tmp_path / "combined"
    shutil.copytree(trained, copy)
    (copy / "metrics.json").unlink()
    shutil.rmtree(copy / "predictions")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    command += ["-m", "benchmark.runs", "combined", "--dataset", "synthetic"]
    command += ["--data-root", str(synthetic_root), "--output", str(tmp_path), *TINY, "--resume"]
    done = subprocess.run(
        command, env=checkout_env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    one = json.loads((trained / "metrics.json").read_text())
    two = json.loads((copy / "metrics.json").read_text())
    _close(one, two)
    assert [i["image_id"] for i in two["per_image"]] == [i["image_id"] for i in one["per_image"]]
    panoptic = [
        json.loads((r / "predictions" / "panoptic.json").read_text()) for r in (trained, copy)
    ]
    assert panoptic[0] == panoptic[1]
    environment = json.loads((copy / "environment.json").read_text())
    assert environment["resumed"][-1]["world_size"] == 2


@pytest.mark.usefixtures("no_fvcore")
def test_a_run_without_fvcore_stops_before_it_trains(
    synthetic_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """cost.json's fvcore count comes after training and evaluation: without fvcore the run
    says so at once (exit 2, the package and the setting named) and writes nothing, instead
    of failing at its end (as it did on a machine without fvcore)."""
    args = ["combined", "--dataset", "synthetic", "--data-root", str(synthetic_root)]
    at = TINY.index("fvcore=false")
    tiny = TINY[: at - 1] + TINY[at + 1 :]  # without its "--set", "fvcore=false"
    assert runs.main([*args, "--output", str(tmp_path), *tiny]) == 2
    err = capsys.readouterr().err
    assert "combined: fvcore is not installed" in err
    assert "set fvcore=false" in err
    assert not (tmp_path / "combined").exists()
