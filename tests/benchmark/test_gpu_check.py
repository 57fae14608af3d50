"""`python -m benchmark.gpu_check` runs only on a GPU machine, which CI never has: its
`--dry-run` (CPU, no autocast) checks here that the script itself works."""

from __future__ import annotations

import re

import pytest

from benchmark import gpu_check


@pytest.mark.slow
def test_the_dry_run_times_three_models_and_profiles_combined(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--dry-run", "--steps", "1", "--size", "64x128", "--profile", "1"]
    assert gpu_check.main(argv) == 0
    out = capsys.readouterr().out
    for name in ("combined", "independent", "torchvision maskrcnn_resnet50_fpn"):
        line = re.search(rf"^  {name}: ([0-9.]+) ms \(([0-9.]+)x torchvision\); losses ", out, re.M)
        assert line, f"no timing line for {name}:\n{out}"
        assert float(line.group(1)) > 0
    assert "combined, 1 profiled steps, ops by self CPU time:" in out
    assert "aten::" in out.split("profiled steps")[1]  # the profiler's table has ops in it
