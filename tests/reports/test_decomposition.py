"""The error decomposition in the report: the chart and the table hold the ΔPQ of metrics.json
`errors` for `combined` and `independent`, the difference of the two with the paired interval
of panoptic_metrics' `compare_errors`; a run without `errors` gets a notice instead."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from panoptic_metrics.decomposition import FIXES
from panoptic_metrics.error_analysis import compare_errors, label

from reports import Report
from reports.intervals import BootstrapSettings, Intervals
from reports.runs import load_run
from reports.sections import error_section

DIFF = "independent − combined"


def _metrics(run: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((run / "metrics.json").read_text())  # type: ignore[no-any-return]


def _section(runs: list, samples: int = 200):  # type: ignore[no-untyped-def,type-arg]
    return error_section(runs, Intervals(BootstrapSettings(n_samples=samples, seed=3)))


def test_the_table_holds_each_runs_delta_pq_and_the_paired_difference(
    complete_runs: list[Path],
) -> None:
    runs = [load_run(p) for p in complete_runs]
    section = _section(runs)
    assert section.notices == []
    (table,) = section.tables
    frame = table.frame.set_index("error")
    assert list(frame.index) == [label(f) for f in FIXES]
    assert list(table.columns) == ["error", "combined", "independent", DIFF]
    deltas = {p.name: _metrics(p)["errors"]["delta_pq"] for p in complete_runs}
    for fix in FIXES:
        for name, values in deltas.items():
            assert frame.loc[label(fix), name] == pytest.approx(100 * values[fix], rel=1e-12)
    # everything is 1 − PQ, for each run
    for path in complete_runs:
        assert frame.loc["everything", path.name] == pytest.approx(100 * (1 - _metrics(path)["pq"]))
    combined, independent = runs
    assert combined.results is not None
    assert independent.results is not None
    expected = compare_errors(independent.results, combined.results, n_samples=200, seed=3)
    for fix in FIXES:
        d = expected.difference[fix]
        row = frame.loc[label(fix)]
        assert row[DIFF] == pytest.approx(
            100 * (deltas["independent"][fix] - deltas["combined"][fix])
        )
        assert (row[f"{DIFF} low"], row[f"{DIFF} high"]) == (100 * d.low, 100 * d.high)
    # the shifted `independent` predictions lose PQ to errors: some cause differs
    assert any(abs(frame.loc[label(f), DIFF]) > 0 for f in FIXES)
    (plot,) = section.plots
    assert plot.name == "error_decomposition"
    assert plot.png.startswith(b"\x89PNG")


def test_the_report_shows_the_section_and_writes_the_csv(
    built_report: Report, complete_runs: list[Path]
) -> None:
    html = built_report.html.read_text()
    assert 'id="errors"' in html
    folder = built_report.html.parent
    assert (folder / "plots" / "error_decomposition.png").is_file()
    csv = pd.read_csv(folder / "tables" / "errors.csv").set_index("error")
    for path in complete_runs:
        value = _metrics(path)["errors"]["delta_pq"]["fn_missed"]
        assert csv.loc["FN missed", path.name] == pytest.approx(100 * value)


def test_a_run_without_errors_gets_a_notice(copy_runs: Callable[[], list[Path]]) -> None:
    combined, independent = copy_runs()
    metrics = _metrics(independent)
    del metrics["errors"]
    (independent / "metrics.json").write_text(json.dumps(metrics))
    section = _section([load_run(combined), load_run(independent)])
    (notice,) = section.notices
    assert notice.startswith("independent: metrics.json has no error decomposition")
    (table,) = section.tables
    assert list(table.columns) == ["error", "combined"]
    assert len(section.plots) == 1
