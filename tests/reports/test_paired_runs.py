"""`python -m benchmark.paired_runs A B`: the paired PQ difference of two run directories is
the one the report draws (`reports.intervals.bootstrap_runs`, its independent − combined)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark import paired_runs
from reports.intervals import BootstrapSettings, bootstrap_runs
from reports.runs import load_run


def test_the_difference_is_the_reports(
    complete_runs: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    combined, independent = complete_runs
    assert paired_runs.main([str(independent), str(combined)]) == 0
    lines = capsys.readouterr().out.splitlines()
    intervals = bootstrap_runs([load_run(p) for p in complete_runs], BootstrapSettings())
    d = intervals.paired["independent"]
    assert lines[-1].startswith(
        f"A - B: PQ {d.pq.estimate:+.4f} [{d.pq.low:+.4f}, {d.pq.high:+.4f}]"
    )
    own = intervals.per_run["combined"].pq
    assert lines[1] == f"{combined}: PQ {own.estimate:.4f} [{own.low:.4f}, {own.high:.4f}]"


def test_a_run_without_metrics_is_refused(complete_runs: list[Path], tmp_path: Path) -> None:
    (tmp_path / "combined").mkdir()
    with pytest.raises(SystemExit) as error:
        paired_runs.main([str(tmp_path / "combined"), str(complete_runs[0])])
    assert error.value.code == 2
