"""The whole report: one self-contained page plus CSV/PNG/SVG files, built from damaged runs too."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from reports import BootstrapSettings, Report, ReportOptions, build_report, write_report
from reports.__main__ import main

TABLES = (
    "table-runs",
    "table-ablation",
    "table-differences",
    "table-cost-paper-cityscapes-1024x2048",
    "table-cost",
    "table-timings",
    "table-groups",
    "table-errors",
)
PLOTS = (
    "per_class_quality",
    "pq_minus_pq_dagger",
    "fp_fn_per_class",
    "iou_histograms",
    "training_curves",
    "pq_curve",
    "pq_over_thresholds",
    "error_decomposition",
)


def _ids(html: str, prefix: str) -> list[str]:
    return re.findall(rf'id="({prefix}[^"]*)"', html)


FEW = ReportOptions(bootstrap=BootstrapSettings(n_samples=100))


@pytest.fixture(scope="module")
def built(built_report: Report) -> Path:
    assert built_report.notices == ()  # complete runs: nothing to report missing
    return built_report.html.parent


def test_the_page_has_every_table_and_plot_embedded(built: Path) -> None:
    html = (built / "report.html").read_text()
    assert set(_ids(html, "table-")) == set(TABLES)
    plots = _ids(html, "plot-")
    assert {f"plot-{p}" for p in PLOTS} <= set(plots)
    assert sum(p.startswith("plot-panel_") for p in plots) == 3
    sources = re.findall(r'<img [^>]*src="([^"]*)"', html)
    assert len(sources) == len(plots)
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    # Nothing on the network: no URL with a scheme other than data: anywhere in the page.
    assert not re.search(r"(?:src|href)=\"(?!data:|#|plots/|tables/)", html)
    assert "http://" not in html
    assert "https://" not in html


def test_tables_and_plots_are_also_written_beside_the_page(
    built: Path, complete_runs: list[Path]
) -> None:
    names = ("ablation", "differences", "cost-paper-cityscapes-1024x2048", "cost", "timings")
    for name in (*names, "groups"):
        assert (built / "tables" / f"{name}.csv").is_file(), name
    ablation = pd.read_csv(built / "tables" / "ablation.csv").set_index("run")
    metrics = json.loads((complete_runs[0] / "metrics.json").read_text())
    assert ablation.loc["combined", "PQ"] == pytest.approx(100 * metrics["pq"])
    for name in PLOTS:
        assert (built / "plots" / f"{name}.png").read_bytes().startswith(b"\x89PNG")
        assert b"<svg" in (built / "plots" / f"{name}.svg").read_bytes()[:2000]
    assert len(list((built / "plots").glob("panel_*.png"))) == 3
    assert not list(built.rglob("*.part"))


def test_header_says_what_ran_where_and_at_which_commit(built: Path) -> None:
    html = (built / "report.html").read_text()
    # environment.json of combined: hardware.cpu, git.commit (shortened)
    assert "Test CPU @ 2 cores; no GPU" in html
    assert "0123456789ab" in html
    # of independent: the flat git_commit/git_dirty spelling, cores and GPUs counted
    assert "Test CPU @ 2 cores (2 cores); 2× Test GPU" in html
    assert "fedcba987654 (dirty)" in html
    assert "synthetic / val" in html
    assert "worst by PQ of combined" in html


def test_the_cards_and_tables_show_the_confidence_intervals(built: Path) -> None:
    html = (built / "report.html").read_text()
    ablation = pd.read_csv(built / "tables" / "ablation.csv").set_index("run")
    low, high = ablation.loc["combined", "PQ low"], ablation.loc["combined", "PQ high"]
    assert f"95% CI {low:.1f} to {high:.1f}" in html  # the combined run's card
    assert f'<span class="ci">[{low:.1f}, {high:.1f}]</span>' in html  # under PQ in the table
    differences = pd.read_csv(built / "tables" / "differences.csv").set_index("run")
    assert list(differences.index) == ["independent − combined"]
    assert {"PQ low", "PQ high", "PQ† low", "PQ† high", "p (PQ)"} <= set(differences.columns)
    diff = differences.loc["independent − combined"]
    card = f'{diff["PQ"]:+.1f}</div><div class="small">PQ points; 95% CI {diff["PQ low"]:+.1f}'
    assert card.replace("-", "−") in html


def test_the_card_names_the_class_where_pq_and_pq_dagger_differ_most(
    built: Path, complete_runs: list[Path]
) -> None:
    gaps = [
        (abs(e["pq"] - e["pq_dagger"]), e["name"], run.name)
        for run in complete_runs
        for e in json.loads((run / "metrics.json").read_text())["per_class"].values()
        if e["pq"] is not None and e["pq_dagger"] is not None
    ]
    _, name, run = max(gaps)
    html = (built / "report.html").read_text()
    assert f'PQ − PQ† differ most on</div>\n      <div class="big">{name}</div>' in html
    assert f"points in {run} (PQ" in html


def test_build_report_returns_the_page_beside_the_runs(
    copy_runs: Callable[[], list[Path]],
) -> None:
    runs = copy_runs()
    page = build_report(runs, options=replace(FEW, panels=0))
    assert page == runs[0].parent / "report" / "report.html"
    assert page.is_file()
    with pytest.raises(ValueError, match="run_dirs is empty"):
        build_report([])


@pytest.mark.slow
def test_damaged_runs_give_a_report_with_visible_notices(
    copy_runs: Callable[[], list[Path]], tmp_path: Path
) -> None:
    combined, independent = copy_runs()
    text = (combined / "metrics.json").read_text()
    (combined / "metrics.json").write_text(text[:100])
    (independent / "cost.json").unlink()
    (independent / "timings.json").write_text("{}")
    shutil.rmtree(independent / "predictions")
    (independent / "log.jsonl").write_text("not json\n")
    metrics = json.loads((independent / "metrics.json").read_text())
    (independent / "metrics.json").write_text(json.dumps(metrics | {"mask_ap": None}))
    report = write_report([combined, independent, tmp_path / "absent"], tmp_path / "out", FEW)
    html = report.html.read_text()
    assert 'id="notices"' in html
    for expected in (
        "combined: metrics.json is unreadable or not valid JSON",
        "independent: mask AP was not computed (metrics.json mask_ap is null)",
        "independent: cost.json is missing",
        "independent: timings.json is partial: no train_seconds",
        "independent: no predictions for the panels",
        "independent: log.jsonl holds no usable records",
        f"absent: run directory {tmp_path / 'absent'} does not exist",
    ):
        assert expected in html, expected
        assert any(n.startswith(expected) for n in report.notices), expected
    assert "table-ablation" in html  # the table is still there, with independent's row
    assert "plot-panel_" in html  # the combined run's predictions still make panels


@pytest.mark.slow
def test_run_names_and_file_contents_are_escaped(
    copy_runs: Callable[[], list[Path]], tmp_path: Path
) -> None:
    combined, _ = copy_runs()
    hostile = combined.rename(combined.parent / "<script>alert(1)<")
    env = json.loads((hostile / "environment.json").read_text())
    env["hardware"] = {"cpu": '<img src="http://example.invalid/x.png">'}
    (hostile / "environment.json").write_text(json.dumps(env))
    html = build_report([hostile], tmp_path / "out", replace(FEW, panels=0)).read_text()
    assert "<script>alert(1)<" not in html
    assert "&lt;script&gt;alert(1)&lt;" in html
    assert '<img src="http://' not in html


@pytest.mark.slow
def test_the_command_line_builds_the_report(
    complete_runs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--output", str(tmp_path / "r"), "--panels", "1", "--bootstrap-samples", "50"]
    assert main([*map(str, complete_runs), *args]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == f"report: {tmp_path / 'r' / 'report.html'}"
    assert main([str(complete_runs[0]), "--bootstrap-samples", "0"]) == 2
    assert "--bootstrap-samples >= 1" in capsys.readouterr().err
    assert len(list((tmp_path / "r" / "plots").glob("panel_*.png"))) == 1
