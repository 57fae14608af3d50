"""metrics/README.md: its example runs as written, and it documents every public name."""

from __future__ import annotations

import doctest

import panoptic_metrics

from tests.metrics.installed import ROOT

README = ROOT / "metrics" / "README.md"


def test_readme_example_runs_as_written() -> None:
    """The expected values are derived in the example's comments: car IoU 4/7, road 3/6."""
    result = doctest.testfile(str(README), module_relative=False, raise_on_error=False)
    assert result.attempted >= 10
    assert result.failed == 0


def test_readme_names_the_entry_points() -> None:
    text = README.read_text()
    entry_points = (
        "evaluate_coco",
        "evaluate_cityscapes",
        "PanopticAccumulator",
        "MiouAccumulator",
        "MaskAP",
        "RunAccumulator",
        "evaluate_run",
        "all_reduce_run",
        "paired_bootstrap",
        "--per-class-csv",
        "--mode strict|pixels",
    )
    for name in entry_points:
        assert name in text, name
    for name in ("RunAccumulator", "evaluate_run", "MaskAP", "MiouAccumulator"):
        assert name in panoptic_metrics.__all__
