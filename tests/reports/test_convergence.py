"""PQ along the way in the report: the plateau rule, the plot, and the state beside each
difference (cards and table); a missing or partial curve.jsonl is a notice."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from reports import Report
from reports.convergence import (
    PLATEAU_GAIN,
    Convergence,
    convergence,
    plateau_state,
    pq_curve_plot,
    pq_series,
)
from reports.runs import RunData, load_run

from .conftest import CURVES


@pytest.mark.parametrize(
    ("pq", "state"),
    [
        ([0.30, 0.42, 0.47, 0.475], "plateau"),  # +0.5 points
        ([0.20, 0.31, 0.39, 0.43], "improving"),  # +4 points
        ([0.50, 0.55, 0.54], "plateau"),  # a loss is no gain
        ([0.40, 0.4099], "plateau"),  # +0.99 points: less than one
        ([0.40, 0.4101], "improving"),  # +1.01 points
        ([0.10, 0.50, 0.90, 0.905], "plateau"),  # only the last gain counts
        ([0.45], "unknown"),
        ([], "unknown"),
    ],
)
def test_the_plateau_rule(pq: list[float], state: str) -> None:
    assert PLATEAU_GAIN == 0.01  # one PQ point, the criterion
    assert plateau_state(pq) == state


def _run(entries: list[dict[str, object]]) -> RunData:
    return RunData(name="r", path=Path("r"), curve=tuple(entries))


def test_the_curve_is_read_by_iteration_and_skips_unusable_points() -> None:
    run = _run(
        [
            {"iteration": 30, "pq": 0.5},
            {"iteration": 10, "pq": 0.2},
            {"iteration": 20, "pq": None},  # undefined PQ: left out
            {"iteration": 40, "pq": 0.505},
        ]
    )
    its, pq = pq_series(run)
    assert its.tolist() == [10, 30, 40]
    assert pq.tolist() == [0.2, 0.5, 0.505]
    state = convergence(run)
    assert (state.state, state.iteration) == ("plateau", 40)
    assert state.gain == pytest.approx(0.005)
    assert state.describe() == "at its plateau (+0.5 PQ at 40)"
    assert convergence(_run([])) == Convergence("unknown")
    assert convergence(_run([])).describe() == "convergence unknown (no PQ curve)"
    assert pq_curve_plot([_run([])]) is None


def test_the_report_plots_the_curves_and_says_each_state(
    built_report: Report, complete_runs: list[Path]
) -> None:
    runs = [load_run(p) for p in complete_runs]
    assert [pq_series(r)[1].tolist() for r in runs] == [CURVES[r.name] for r in runs]
    states = {r.name: convergence(r).describe() for r in runs}
    assert states == {
        "combined": "at its plateau (+0.5 PQ at 60)",
        "independent": "still improving (+4.0 PQ at 60)",
    }
    folder = built_report.html.parent
    assert (folder / "plots" / "pq_curve.png").stat().st_size > 1000
    html = built_report.html.read_text()
    assert 'id="plot-pq_curve"' in html
    # the difference card and the difference table carry both runs' states
    card = html[html.index("independent − combined") :]
    assert card.index(states["independent"]) < card.index(states["combined"]) < 2000
    table = (folder / "tables" / "differences.csv").read_text()
    expected = f"independent: {states['independent']}; combined: {states['combined']}"
    assert expected in table


def test_a_missing_or_partial_curve_is_a_notice(copy_runs: Callable[[], list[Path]]) -> None:
    combined, independent = copy_runs()
    (combined / "curve.jsonl").unlink()
    lines = (independent / "curve.jsonl").read_text().splitlines()
    (independent / "curve.jsonl").write_text("\n".join(lines[:2]) + '\n{"iteration": 4')
    run = load_run(combined)
    assert run.curve == ()
    assert any(n.startswith("curve.jsonl is missing") for n in run.notices), run.notices
    assert convergence(run).state == "unknown"
    run = load_run(independent)
    assert [e["iteration"] for e in run.curve] == [15, 30]
    assert any("curve.jsonl: skipped 1 unreadable line(s) (3)" in n for n in run.notices)
    assert any(
        n.startswith("curve.jsonl is partial: its last evaluation is at iteration 30 of 60")
        for n in run.notices
    ), run.notices
    assert json.loads(lines[0])["iteration"] == 15
