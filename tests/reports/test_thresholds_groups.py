"""PQ over IoU thresholds (a plot) and PQ per class group (a table): the numbers are those of
metrics.json `pq_at` and `groups`; a run without them gets a notice instead."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from panoptic_metrics import cityscapes_groups

from reports import Report
from reports.runs import load_run
from reports.sections import group_section, threshold_section
from reports.thresholds import threshold_series


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())  # type: ignore[no-any-return]


def test_the_threshold_curves_are_the_pq_at_of_metrics_json(complete_runs: list[Path]) -> None:
    runs = [load_run(p) for p in complete_runs]
    for path, run in zip(complete_runs, runs, strict=True):
        ladder = _metrics(path)["pq_at"]
        assert list(ladder) == [
            "0.5",
            "0.55",
            "0.6",
            "0.65",
            "0.7",
            "0.75",
            "0.8",
            "0.85",
            "0.9",
            "0.95",
        ]
        for part, key in (("overall", None), ("things", "things"), ("stuff", "stuff")):
            thresholds, pq = threshold_series(run, part)
            expected = [(v if key is None else v[key])["pq"] for v in ladder.values()]
            assert thresholds.tolist() == [float(t) for t in ladder]
            assert pq.tolist() == expected
        # at 0.5 the ladder is PQ itself; the shifted things lose matches further up
        assert threshold_series(run)[1][0] == _metrics(path)["pq"]
        assert threshold_series(run, "things")[1][-1] < threshold_series(run, "things")[1][0]
    section = threshold_section(runs)
    (plot,) = section.plots
    assert plot.name == "pq_over_thresholds"
    assert plot.png.startswith(b"\x89PNG")
    assert b"<svg" in plot.svg[:2000]
    assert section.notices == []


def test_the_group_table_holds_the_groups_of_metrics_json(complete_runs: list[Path]) -> None:
    runs = [load_run(p) for p in complete_runs]
    section = group_section(runs)
    assert section.notices == []
    (table,) = section.tables
    frame = table.frame.set_index("group")
    assert list(frame.index) == list(cityscapes_groups())
    assert list(frame.columns) == ["classes", "combined", "independent"]
    assert frame.loc["human", "classes"] == "person, rider"
    for path in complete_runs:
        groups = _metrics(path)["groups"]
        for name, group in groups.items():
            assert frame.loc[name, path.name] == pytest.approx(100 * group["pq"], rel=1e-12)
    # the page's text: the table's format (one decimal), as the other tables
    cells = {row[0].text: [c.text for c in row] for row in table.cells()}
    expected = 100 * _metrics(complete_runs[0])["groups"]["vehicle"]["pq"]
    assert cells["vehicle"][2] == f"{expected:.1f}"


def test_the_group_csv_is_written_beside_the_page(
    built_report: Report, complete_runs: list[Path]
) -> None:
    csv = pd.read_csv(built_report.html.parent / "tables" / "groups.csv").set_index("group")
    for path in complete_runs:
        for name, group in _metrics(path)["groups"].items():
            assert csv.loc[name, path.name] == pytest.approx(100 * group["pq"])
    html = built_report.html.read_text()
    assert 'id="class-groups"' in html
    assert 'id="iou-thresholds"' in html


def _strip(run: Path, *keys: str) -> None:
    metrics = _metrics(run)
    for key in keys:
        del metrics[key]
    (run / "metrics.json").write_text(json.dumps(metrics))


def test_runs_without_the_data_get_notices_and_no_plot_or_table(
    copy_runs: Callable[[], list[Path]],
) -> None:
    paths = copy_runs()
    for path in paths:
        _strip(path, "pq_at", "groups")
    runs = [load_run(p) for p in paths]
    assert all(r.notices == () for r in runs)  # older metrics.json files read without them
    thresholds, groups = threshold_section(runs), group_section(runs)
    assert (thresholds.plots, groups.tables) == ([], [])
    assert len(thresholds.notices) == len(groups.notices) == 3  # each run, and none at all
    assert thresholds.notices[0].startswith("combined: metrics.json has no PQ over IoU")
    assert groups.notices[1].startswith("independent: metrics.json has no class groups")
    assert "no PQ-over-thresholds plot" in thresholds.notices[-1]
    assert "no group table" in groups.notices[-1]


def test_a_run_without_the_data_is_left_out_with_a_notice(
    copy_runs: Callable[[], list[Path]],
) -> None:
    combined, independent = copy_runs()
    _strip(independent, "pq_at", "groups")
    runs = [load_run(combined), load_run(independent)]
    thresholds, groups = threshold_section(runs), group_section(runs)
    assert len(thresholds.plots) == 1
    (table,) = groups.tables
    assert list(table.frame.columns) == ["group", "classes", "combined"]
    for section in (thresholds, groups):
        (notice,) = section.notices
        assert notice.startswith("independent: ")
