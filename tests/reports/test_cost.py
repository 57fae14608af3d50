"""The cost section: the runs' cost.json, and cost files of no run (our network in the paper's
configuration) each as its own table beside the paper's §5.4 figures, with their notes.

Every asserted figure is derived from the file the test (or conftest) wrote, or from
benchmark.compute_cost run in the test on the meta device (no fvcore: well under a second).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from markupsafe import escape

from reports import Report
from reports.__main__ import main
from reports.cost import (
    CostFigures,
    cost_table,
    gather_cost,
    glance_cost,
    read_cost_file,
    table_name,
)
from reports.overview import cost_cards
from reports.paper import PAPER_COST
from reports.runs import load_run

PAPER_TABLE = "cost-paper-cityscapes-1024x2048"


def _csv(report: Report, name: str) -> pd.DataFrame:
    frame = pd.read_csv(report.html.parent / "tables" / f"{name}.csv", dtype=str)
    return frame.set_index("figure")


def _difference(mine: float, paper: float) -> str:
    return f"{100 * (mine / paper - 1):+.2f}%".replace("-", "−")


def test_the_paper_configuration_has_its_own_table_beside_the_papers(
    built_report: Report, paper_cost_file: Path
) -> None:
    written = json.loads(paper_cost_file.read_text())
    rows = _csv(built_report, PAPER_TABLE)
    for form in ("combined", "independent"):
        params, macs = written[form]["params"], written[form]["dense_conv_macs"]
        assert rows.loc["parameters (M)", form] == f"{params / 1e6:.2f}"
        assert rows.loc["dense-conv multiply-adds (T)", form] == f"{macs / 1e12:.3f}"
        paper = PAPER_COST[form]
        assert rows.loc["parameters (M)", f"{form} vs paper"] == _difference(
            params, paper["params"]
        )
        assert rows.loc["dense-conv multiply-adds (T)", f"{form} vs paper"] == _difference(
            macs, paper["dense_conv_macs"]
        )
        fvcore = written[form]["fvcore_flops"]
        assert rows.loc["fvcore FLOPs, whole model (T)", form] == f"{fvcore / 1e12:.3f}"
    ratio = written["independent"]["params"] / written["combined"]["params"]
    assert rows.loc["parameters (M)", "ratio"] == f"{ratio:.3f}×"
    assert rows.loc["parameters (M)", "ratio (paper)"] == f"{78.06 / 51.43:.3f}×"
    assert rows.loc["dense-conv multiply-adds (T)", "ratio (paper)"] == f"{0.864 / 0.514:.3f}×"


def test_the_page_labels_each_cost_table_and_lists_the_files_notes(
    built_report: Report, paper_cost_file: Path, complete_runs: list[Path]
) -> None:
    page = built_report.html.read_text()
    section = page[page.index('<section id="cost">') :]
    section = section[: section.index("</section>")]
    runs_cost = json.loads((complete_runs[0] / "cost.json").read_text())
    ours = "Our network in the paper&#39;s configuration (paper-cityscapes, 1024×2048)"
    runs = f"The runs&#39; models (preset {runs_cost['preset']}, "
    runs += f"{runs_cost['height']}×{runs_cost['width']})"
    assert section.index(ours) < section.index('id="table-cost-paper') < section.index(runs)
    assert section.index(runs) < section.index('id="table-cost"')
    # Short headings under a row of groups: ours / paper / Δ per form, then the ratios.
    assert '<th colspan="3">combined</th><th colspan="3">independent</th>' in section
    assert "<th>ours</th><th>paper</th><th>Δ</th>" in section
    assert '<th colspan="2">combined</th>' in section  # the runs' table: no Δ
    notes = re.search(rf'<ul class="table-notes" id="notes-{PAPER_TABLE}">(.*?)</ul>', section)
    assert notes, "the cost file's notes are not listed under its table"
    items = re.findall(r"<li>(.*?)</li>", notes.group(1))
    # The page escapes as jinja2 does (markupsafe), so each note is its escaped text.
    assert items == [str(escape(n)) for n in json.loads(paper_cost_file.read_text())["notes"]]
    assert "&lt;not verifiable&gt;" in items[1]  # escaped, not markup
    assert "notes-cost" not in section.replace(f"notes-{PAPER_TABLE}", "")  # the runs': none


def test_the_cost_cards_use_the_paper_configuration(
    built_report: Report, paper_cost_file: Path, complete_runs: list[Path]
) -> None:
    page = built_report.html.read_text()
    written = json.loads(paper_cost_file.read_text())
    runs_cost = json.loads((complete_runs[0] / "cost.json").read_text())
    for key, label, paper in (
        ("params", "parameters", 78.06 / 51.43),
        ("dense_conv_macs", "dense-conv MACs", 0.864 / 0.514),
    ):
        ours = written["independent"][key] / written["combined"][key]
        card = f'{label}</div>\n      <div class="big">{ours:.3f}×</div>'
        assert card in page
        theirs = runs_cost["independent"][key] / runs_cost["combined"][key]
        assert f'<div class="big">{theirs:.3f}×</div>' not in page
        assert f"paper: {paper:.3f}× (" in page
    params = [written[f]["params"] / 1e6 for f in ("independent", "combined")]
    assert f"ours, paper-cityscapes 1024×2048: {params[0]:.2f} / {params[1]:.2f} M" in page


def test_without_a_paper_configuration_the_cards_use_the_runs_figures(
    complete_runs: list[Path], tmp_path: Path
) -> None:
    runs_cost = gather_cost([load_run(p) for p in complete_runs])
    other = tmp_path / "other.json"
    written = json.loads((complete_runs[0] / "cost.json").read_text())
    other.write_text(json.dumps(written | {"preset": "paper-cityscapes", "height": 512}))
    chosen = glance_cost(runs_cost, [read_cost_file(other)])  # not the paper's size
    assert chosen is runs_cost
    cards = {c.title: c for c in cost_cards(chosen)}
    ratio = written["independent"]["params"] / written["combined"]["params"]
    assert cards["parameters"].value == f"{ratio:.3f}×"
    setting = f"preset {written['preset']}, {written['height']}×{written['width']}"
    independent, combined = (written[f]["params"] / 1e6 for f in ("independent", "combined"))
    amounts = f"{independent:.2f} / {combined:.2f} M"
    assert cards["parameters"].details[1] == f"the runs' models ({setting}): {amounts}"
    assert cards["parameters"].details[2] == "paper: 1.518× (78.06 / 51.43 M at 1024×2048)"
    assert cost_cards(CostFigures({}, "", ())) == []  # nothing counted: no cost cards


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cost file absent.json is missing"),
        ('{"combined": ', "cost file bad.json is unreadable or not valid JSON"),
        ("[1, 2]", "cost file bad.json should hold a JSON object, found list"),
        ('{"preset": "paper-cityscapes"}', "holds no cost figures of combined or independent"),
        ('{"combined": {"params": "many"}}', "holds no cost figures of combined or independent"),
    ],
)
def test_an_unusable_cost_file_is_a_notice(
    tmp_path: Path, content: str | None, problem: str
) -> None:
    path = tmp_path / ("absent.json" if content is None else "bad.json")
    if content is not None:
        path.write_text(content)
    cost = read_cost_file(path)
    assert cost.forms == {}
    assert any(problem in n for n in cost.notices), cost.notices
    assert cost_table(cost, table_name(cost)) is None


def test_notes_that_are_not_strings_are_left_out_with_a_notice(tmp_path: Path) -> None:
    path = tmp_path / "cost.json"
    path.write_text(json.dumps({"combined": {"params": 5e6}, "notes": ["kept", 3, None]}))
    cost = read_cost_file(path)
    assert cost.forms == {"combined": {"params": 5e6}}
    assert cost.notes == ("kept",)
    assert any("`notes` should be a list of strings" in n for n in cost.notices)
    path.write_text(json.dumps({"combined": {"params": 5e6}, "notes": "one string"}))
    assert read_cost_file(path).notes == ()


def test_table_names_are_file_safe_and_unique(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"preset": "../../etc/Pass wd", "height": 64, "width": 128}))
    cost = read_cost_file(path)
    name = table_name(cost)
    assert name == "cost-etc-pass-wd-64x128"
    assert table_name(cost, [name]) == f"{name}-2"
    assert table_name(cost, [name, f"{name}-2"]) == f"{name}-3"
    assert table_name(CostFigures({}, "", ())) == "cost-file"


@pytest.mark.needs_torch
def test_compute_costs_paper_configuration_file_reads_as_the_papers_setting(
    tmp_path: Path,
) -> None:
    """benchmark.compute_cost's own document (meta-device counts, no fvcore) at the paper's
    preset and size: the report takes it for the paper's configuration, with its notes."""
    from benchmark.compute_cost import NOTES, cost_document
    from reference_model.presets import preset

    forms = ("combined", "independent")
    document = cost_document(
        preset("paper-cityscapes"),
        preset_name="paper-cityscapes",
        forms=forms,
        height=1024,
        width=2048,
        fvcore=False,
    )
    path = tmp_path / "cost.json"
    path.write_text(json.dumps(document))
    cost = read_cost_file(path)
    assert cost.notices == ()
    assert cost.paper_setting
    assert cost.notes == NOTES
    assert glance_cost(CostFigures({}, "", ()), [cost]) is cost
    table = cost_table(cost, table_name(cost))
    assert table is not None
    assert table.name == PAPER_TABLE
    rows = table.frame.set_index("figure")
    for form in forms:
        assert rows.loc["parameters (M)", form] == f"{document[form]['params'] / 1e6:.2f}"
    assert rows.loc["fvcore FLOPs, whole model (T)"].isna()[list(forms)].all()  # not counted


@pytest.mark.needs_torch
@pytest.mark.slow
def test_the_command_line_takes_cost_files(
    complete_runs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two small counts of compute_cost's command line and a missing file: two tables of their
    own (not the paper's setting: no difference column) and a notice; nothing crashes."""
    from benchmark import compute_cost

    files = [tmp_path / "a.json", tmp_path / "b.json"]
    for path in files:
        argv = ["--preset", "tiny-synthetic", "--height", "64", "--width", "128", "--no-fvcore"]
        assert compute_cost.main([*argv, "--output", str(path)]) == 0
    args = ["--output", str(tmp_path / "r"), "--panels", "0", "--bootstrap-samples", "50"]
    for path in [*files, tmp_path / "absent.json"]:
        args += ["--cost", str(path)]
    assert main([*map(str, complete_runs), *args]) == 0
    assert "notice(s)" in capsys.readouterr().out
    page = (tmp_path / "r" / "report.html").read_text()
    tables = re.findall(r'id="table-(cost[^"]*)"', page)
    assert tables == ["cost-tiny-synthetic-64x128", "cost-tiny-synthetic-64x128-2", "cost"]
    assert "Our network at preset tiny-synthetic, 64×128" in page
    assert "cost file absent.json is missing" in page
    frame = pd.read_csv(tmp_path / "r" / "tables" / f"{tables[0]}.csv", dtype=str)
    assert not any(c.endswith("vs paper") for c in frame.columns)
    params = json.loads(files[0].read_text())["combined"]["params"]
    assert frame.set_index("figure").loc["parameters (M)", "combined"] == f"{params / 1e6:.2f}"
