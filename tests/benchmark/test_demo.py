"""The demo pipeline runs end to end on a tiny dataset and is idempotent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark import demo


@pytest.mark.needs_torch
def test_demo_runs_end_to_end_and_reuses_its_data(tmp_path: Path) -> None:
    args = [
        "--data",
        str(tmp_path / "data"),
        "--output",
        str(tmp_path / "run"),
        "--train-images",
        "19",
        "--val-images",
        "19",
        "--height",
        "64",
        "--width",
        "128",
        "--workers",
        "1",
    ]
    assert demo.main(args) == 0
    summary = json.loads((tmp_path / "run" / "dataset_summary.json").read_text())
    assert summary["val"]["images"] == 19
    assert all(c["pixels"] > 0 for c in summary["val"]["classes"].values())
    manifest = tmp_path / "data" / "synthetic.json"
    stamp = manifest.stat().st_mtime_ns
    assert demo.main(args) == 0
    assert manifest.stat().st_mtime_ns == stamp, "an up-to-date dataset was regenerated"
