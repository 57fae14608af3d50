"""The demo pipeline runs end to end on a tiny dataset and is idempotent.

Its count of our network in the paper's configuration is made at the tiny preset and 64x128
here (`--cost-preset`, `--cost-size`): the same job, file and report table, in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark import demo

pytestmark = [pytest.mark.needs_torch, pytest.mark.slow]


def test_demo_runs_end_to_end_and_reuses_its_results(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    checkout_env: dict[str, str],
) -> None:
    monkeypatch.setenv("PYTHONPATH", checkout_env["PYTHONPATH"])  # for the demo's children
    args = ["--data", str(tmp_path / "data"), "--output", str(tmp_path / "run")]
    args += ["--train-images", "19", "--val-images", "19", "--height", "64", "--width", "128"]
    args += ["--cost-preset", "tiny-synthetic", "--cost-size", "64x128"]
    args += ["--workers", "1", "--iterations", "3", "--no-progress"]
    assert demo.main(args) == 0
    out = capsys.readouterr().out
    counted = tmp_path / "run" / "cost-tiny-synthetic-64x128.json"
    cost = json.loads(counted.read_text())
    assert (cost["preset"], cost["height"], cost["width"]) == ("tiny-synthetic", 64, 128)
    assert cost["independent"]["params"] > cost["combined"]["params"] > 0
    assert cost["combined"]["fvcore_flops"] > 0  # the full count, as for the paper's preset
    assert "wrote" in (tmp_path / "run" / "logs" / "cost-tiny-synthetic-64x128.log").read_text()
    summary = json.loads((tmp_path / "run" / "dataset_summary.json").read_text())
    assert summary["val"]["images"] == 19
    assert all(c["pixels"] > 0 for c in summary["val"]["classes"].values())
    for name in ("independent", "combined"):
        run = tmp_path / "run" / name
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["n_images"] == 19
        assert f"{name}: PQ {metrics['pq']:.3f}" in out
        config = json.loads((run / "config.json").read_text())
        assert config["model"]["form"] == name
        assert config["training"]["iterations"] == 3
        assert json.loads((run / "cost.json").read_text())[name]["params"] > 0
        curve = [json.loads(line) for line in (run / "curve.jsonl").read_text().splitlines()]
        assert [e["iteration"] for e in curve] == [1, 2, 3]  # quarters of 3, rounded up
    report = tmp_path / "run" / "report" / "report.html"
    assert f"report: {report}" in out
    page = report.read_text()
    assert "independent" in page
    assert 'id="table-cost-tiny-synthetic-64x128"' in page
    assert 'id="plot-pq_curve"' in page
    assert f"{cost['combined']['params'] / 1e6:.2f}" in page

    stamps = {
        p: p.stat().st_mtime_ns
        for p in (
            tmp_path / "data" / "synthetic.json",
            tmp_path / "run" / "combined" / "checkpoints" / "last.pt",
            tmp_path / "run" / "independent" / "metrics.json",
            counted,
        )
    }
    assert demo.main(args) == 0
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps, "finished work was redone"
    # other settings: the runs start again; --no-cost: no count, no table of one; two seeds
    counted.unlink()
    again = [*args[:-3], "--iterations", "2", "--no-progress", "--no-cost", "--seeds", "2"]
    assert demo.main(again) == 0
    for name in ("combined", "combined-seed1", "independent-seed1"):
        config = json.loads((tmp_path / "run" / name / "config.json").read_text())
        assert config["training"]["iterations"] == 2
        assert config["training"]["seed"] == (1 if name.endswith("seed1") else 0)
    assert "PQ over seeds" in report.read_text()
    assert not counted.exists()
    assert "table-cost-tiny" not in report.read_text()
    assert 'id="table-cost"' in report.read_text()  # the runs' own cost.json still shown
