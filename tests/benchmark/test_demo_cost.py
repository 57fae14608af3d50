"""The demo's count of our network in the paper's configuration: planned, kept, checked
against the model; and the demo's options for it.

The paper's preset is only counted on the meta device here (half a second); the full count
with fvcore (about a minute at 1024x2048) runs in the demo itself, never in the tests.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from benchmark import compute_cost, demo
from benchmark.demo import MALLOC_ENV, plan_cost, stale
from reference_model.presets import preset

pytestmark = pytest.mark.needs_torch

FORMS = ("combined", "independent")
TINY = ("tiny-synthetic", 64, 128)


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
    assert (job.name, job.steps, job.env) == (path.stem, 1, MALLOC_ENV)  # no steps on the way


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
    path = tmp_path_factory.mktemp("cost") / "cost-tiny-synthetic-64x128.json"
    argv = ["--preset", "tiny-synthetic", "--height", "64", "--width", "128", "--threads", "1"]
    assert compute_cost.main([*argv, "--output", str(path)]) == 0
    return path


def test_a_current_count_is_reused(counted: Path) -> None:
    fresh = _fresh(*TINY)
    assert stale(counted, fresh, TINY) == ""
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
        ({"combined.params": 1}, "combined params is 1, now "),
        ({"independent.dense_conv_macs": 7}, "independent dense_conv_macs is 7, now "),
        ({"combined.fvcore_flops": 0.5}, "no full count of combined (fvcore_flops)"),
        ({"combined.fvcore_flops": None}, "unreadable (KeyError('fvcore_flops'))"),
        ({"width": 256}, "counted for ('tiny-synthetic', 64, 256)"),
        ({"preset": "paper-cityscapes"}, "counted for ('paper-cityscapes', 64, 128)"),
    ],
)
def test_a_count_that_differs_from_the_model_is_stale(
    counted: Path, tmp_path: Path, change: dict, problem: str
) -> None:
    path = _spoiled(counted, tmp_path, change)
    assert problem in stale(path, _fresh(*TINY), TINY)
    again, job = plan_cost(tmp_path, "tiny-synthetic", 64, 128)
    assert again == path
    assert job is not None
    assert job.command[-2:] == ["--output", str(path)]


def test_a_missing_or_damaged_count_is_stale(counted: Path, tmp_path: Path) -> None:
    fresh = _fresh(*TINY)
    path = tmp_path / "cost.json"
    assert stale(path, fresh, TINY) == "not counted yet"
    path.write_text(counted.read_text()[:-20])
    assert stale(path, fresh, TINY).startswith("unreadable (JSONDecodeError(")
    path.write_text("[]")
    assert stale(path, fresh, TINY).startswith("unreadable (TypeError(")
