"""The demo's extra jobs: the count of our network in the paper's configuration (planned,
cached, checked against the model) and the job queue that runs it beside the two runs.

The paper's preset is only counted on the meta device here (half a second); the full count
with fvcore (about a minute at 1024x2048) runs in the demo itself, never in the tests.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import pytest

from benchmark import compute_cost, demo
from benchmark.demo_cost import (
    SECONDS_PER_DENSE_MAC,
    SECONDS_START,
    CostJob,
    cost_path,
    plan_cost,
    stale,
)
from benchmark.demo_jobs import DemoProgress, run_jobs, schedule_seconds
from reference_model.presets import preset

pytestmark = pytest.mark.needs_torch

FORMS = ("combined", "independent")


def _fresh(preset_name: str, height: int, width: int) -> dict:
    return compute_cost.measure(
        preset(preset_name), forms=FORMS, height=height, width=width, fvcore=False, progress=False
    )


def test_by_default_the_demo_counts_the_paper_configuration(tmp_path: Path) -> None:
    args = demo._parser().parse_args([])
    assert (args.cost_preset, args.cost_size, args.no_cost) == (
        "paper-cityscapes",
        (1024, 2048),
        False,
    )
    path, job = plan_cost(tmp_path, args.cost_preset, *args.cost_size)
    assert path == tmp_path / "cost-paper-cityscapes-1024x2048.json"
    assert job is not None  # nothing there yet: it is counted (not here: the job is not run)
    assert job.command[:3] == [sys.executable, "-m", "benchmark.compute_cost"]
    assert job.command[3:] == [
        "--preset", "paper-cityscapes", "--height", "1024", "--width", "2048",
        "--output", str(path),
    ]  # fmt: skip
    assert "--no-fvcore" not in job.command
    assert not job.required  # a failed count leaves a notice in the report, not a failed demo
    fresh = _fresh("paper-cityscapes", 1024, 2048)
    macs = sum(fresh[f]["dense_conv_macs"] for f in FORMS)
    assert job.estimate == pytest.approx(SECONDS_START + macs * SECONDS_PER_DENSE_MAC)
    assert 40 < job.estimate < 60  # 44-51 s measured on one thread of a 2-core machine


def test_size_and_preset_options_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    args = demo._parser().parse_args(["--cost-size", "64X128", "--cost-preset", "tiny-synthetic"])
    assert args.cost_size == (64, 128)
    for bad in (["--cost-size", "64"], ["--cost-size", "32x128"], ["--cost-preset", "nope"]):
        with pytest.raises(SystemExit):
            demo._parser().parse_args(bad)
    err = capsys.readouterr().err
    assert "expected HEIGHTxWIDTH, got '64'" in err
    assert "at least 64, got '32x128'" in err


@pytest.fixture(scope="module")
def counted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """compute_cost's command line, as the demo runs it, at a small preset and size."""
    path = cost_path(tmp_path_factory.mktemp("cost"), "tiny-synthetic", 64, 128)
    argv = ["--preset", "tiny-synthetic", "--height", "64", "--width", "128", "--threads", "1"]
    assert compute_cost.main([*argv, "--output", str(path)]) == 0
    return path


def test_a_current_count_is_reused(counted: Path) -> None:
    fresh = _fresh("tiny-synthetic", 64, 128)
    assert stale(counted, fresh, "tiny-synthetic", 64, 128) == ""
    path, job = plan_cost(counted.parent, "tiny-synthetic", 64, 128)
    assert (path, job) == (counted, None)


def _spoiled(counted: Path, tmp_path: Path, change: dict) -> Path:
    data = json.loads(counted.read_text())
    for key, value in change.items():
        if "." in key:
            form, figure = key.split(".")
            if value is None:
                del data[form][figure]
            else:
                data[form][figure] = value
        else:
            data[key] = value
    path = tmp_path / counted.name
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"combined.params": 1}, "combined params is 1, the model now gives "),
        ({"independent.dense_conv_macs": 7}, "independent dense_conv_macs is 7, the model now"),
        ({"combined.fvcore_flops": None}, "no full count of combined (fvcore_flops)"),
        ({"width": 256}, "counted for ('tiny-synthetic', 64, 256)"),
        ({"preset": "paper-cityscapes"}, "counted for ('paper-cityscapes', 64, 128)"),
    ],
)
def test_a_count_that_differs_from_the_model_is_stale(
    counted: Path, tmp_path: Path, change: dict, problem: str
) -> None:
    path = _spoiled(counted, tmp_path, change)
    assert problem in stale(path, _fresh("tiny-synthetic", 64, 128), "tiny-synthetic", 64, 128)
    again, job = plan_cost(tmp_path, "tiny-synthetic", 64, 128)
    assert again == path
    assert job is not None
    assert job.command[-2:] == ["--output", str(path)]


def test_a_missing_or_damaged_count_is_stale(counted: Path, tmp_path: Path) -> None:
    fresh = _fresh("tiny-synthetic", 64, 128)
    path = tmp_path / "cost.json"
    assert stale(path, fresh, "tiny-synthetic", 64, 128) == "not counted yet"
    path.write_text(counted.read_text()[:-20])
    assert stale(path, fresh, "tiny-synthetic", 64, 128).startswith("unreadable")
    path.write_text("[]")
    assert stale(path, fresh, "tiny-synthetic", 64, 128) == "not a JSON object but list"


def test_the_cost_jobs_progress_follows_its_clock(tmp_path: Path) -> None:
    job = CostJob("paper-cityscapes", tmp_path / "c.json", ["true"], estimate=60.0)
    assert job.name == "c"
    assert (job.done_seconds(None), job.note(None)) == (0.0, "paper-cityscapes cost waiting")
    assert job.done_seconds(30.0) == 30.0
    assert job.done_seconds(100.0) == 0.95 * 60.0  # running late: never done before it ends
    assert job.note(100.0) == "paper-cityscapes cost counting"
    assert (job.done_seconds(math.inf), job.note(math.inf)) == (60.0, "paper-cityscapes cost done")


def test_schedule_seconds_starts_each_job_when_a_slot_is_free() -> None:
    # The demo's estimates on 2 cores: independent 517 s, combined 426 s, then the count (60 s)
    # starts when combined ends (426 + 60 = 486) and ends before independent does.
    assert schedule_seconds([517.0, 426.0, 60.0], 2) == 517.0
    assert schedule_seconds([517.0, 426.0, 120.0], 2) == 546.0
    assert schedule_seconds([517.0, 426.0, 60.0], 1) == 1003.0
    assert schedule_seconds([10.0, 10.0, 10.0], 2) == 20.0
    assert schedule_seconds([], 2) == 0.0


def _job(name: str, code: str, tmp_path: Path, *, required: bool = False) -> CostJob:
    """A job running `python -c code`; it records the `--threads N` it was given."""
    record = f"open({str(tmp_path / name)!r}, 'w').write(sys.argv[-1]); "
    command = [sys.executable, "-c", f"import sys; {record}{code}"]
    return CostJob("x", tmp_path / f"{name}.json", command, estimate=1.0, required=required)


@pytest.mark.slow
def test_run_jobs_shares_the_cores_and_survives_an_optional_failure(tmp_path: Path) -> None:
    """Two quick jobs start together and share the cores; the third starts alone and gets them
    all; a failing optional job is reported, a failing required one fails the whole."""
    jobs = [_job("a", "pass", tmp_path), _job("b", "sys.exit(3)", tmp_path)]
    jobs += [_job("c", "pass", tmp_path)]
    with DemoProgress({"runs": 3.0}, enabled=False) as progress:
        assert run_jobs(jobs, tmp_path / "logs", progress, parallel=2)
    cores = len(os.sched_getaffinity(0))
    threads = {n: int((tmp_path / n).read_text()) for n in "abc"}
    assert threads == {"a": max(1, cores // 2), "b": max(1, cores // 2), "c": cores}
    assert (tmp_path / "logs" / "b.log").is_file()
    failing = [_job("d", "sys.exit(3)", tmp_path, required=True)]
    with DemoProgress({"runs": 1.0}, enabled=False) as progress:
        assert not run_jobs(failing, tmp_path / "logs", progress, parallel=2)
