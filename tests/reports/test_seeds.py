"""Runs repeated with `benchmark.runs --seeds N`: the spread over seeds beside the bootstrap
interval, on the run cards, the difference cards and the difference table."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from reports import BootstrapSettings, Report, ReportOptions, write_report
from reports.runs import load_run
from reports.seeds import difference_spread, run_spread, spread

FEW = ReportOptions(panels=0, bootstrap=BootstrapSettings(n_samples=100))


def test_the_spread_of_hand_made_values() -> None:
    # deviations 0, +0.02, -0.02 from the mean 0.47: sample variance 0.0008 / 2, sd 0.02
    s = spread([0.47, 0.49, 0.45])
    assert s is not None
    assert (s.n, s.mean, s.sd, s.low, s.high) == pytest.approx((3, 0.47, 0.02, 0.45, 0.49))
    assert s.describe() == "over 3 seeds: 47.0 ± 2.0 (45.0 to 49.0)"
    d = spread([-0.03, 0.01])
    assert d is not None
    assert d.describe() == "over 2 seeds: −1.0 ± 2.8 (−3.0 to +1.0)"  # sd 0.04 / sqrt(2)
    assert spread([0.5]) is None
    assert spread([0.5, float("nan")]) is None


def test_seed_siblings_give_the_spread_on_the_page(
    copy_runs: Callable[[], list[Path]], tmp_path: Path
) -> None:
    """Seed 1 of each run holds the other run's metrics: the per-seed differences are d and
    -d (d = independent - combined at seed 0), mean 0 and sd |d| * sqrt(2)."""
    combined, independent = copy_runs()
    shutil.copytree(independent, combined.parent / "combined-seed1")
    shutil.copytree(combined, independent.parent / "independent-seed1")
    broken = combined.parent / "combined-seed2"
    broken.mkdir()
    (broken / "metrics.json").write_text("{")
    runs = {p.name: load_run(p) for p in (combined, independent)}
    pq = {name: run.results.pq for name, run in runs.items() if run.results is not None}
    assert [(s.seed, s.pq) for s in runs["combined"].seeds] == [
        (0, pq["combined"]),
        (1, pq["independent"]),
    ]
    assert any(
        n.startswith("combined-seed2: metrics.json is unreadable") for n in runs["combined"].notices
    )
    d = pq["independent"] - pq["combined"]
    assert d != 0
    diff = difference_spread(runs["independent"], runs["combined"])
    assert diff is not None
    assert (diff.n, diff.mean, diff.sd) == pytest.approx((2, 0.0, abs(d) * 2**0.5))
    own = run_spread(runs["combined"])
    assert own is not None
    assert own.sd == pytest.approx(abs(d) / 2**0.5)
    report = write_report([combined, independent], tmp_path / "out", FEW)
    html = report.html.read_text()
    assert f"PQ {own.describe()}" in html
    assert f"PQ difference {diff.describe()}" in html
    table = (tmp_path / "out" / "tables" / "differences.csv").read_text()
    assert "PQ over seeds" in table.splitlines()[0]
    assert diff.describe() in table


def test_a_run_with_one_seed_shows_no_spread(built_report: Report) -> None:
    table = (built_report.html.parent / "tables" / "differences.csv").read_text()
    assert "PQ over seeds" not in table
    assert "seeds:" not in built_report.html.read_text()
