"""The tables show what the runs' files hold, and the paper's numbers where the dataset matches.

The runs' metrics.json are panoptic_metrics' real output (conftest); the intervals are checked
against the library's bootstrap run on the same files, and against a derivation: a run
compared with an exact copy of itself differs by 0 on every resample.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from panoptic_metrics import PanopticResults
from panoptic_metrics.bootstrap import bootstrap, paired_bootstrap

from reports.cost import cost_table, gather_cost
from reports.intervals import BootstrapSettings, bootstrap_runs
from reports.paper import PAPER_COST, paper_rows
from reports.runs import RunData, load_run
from reports.tables import Table, ablation_table, difference_table, timing_table

FEW = BootstrapSettings(n_samples=200, seed=3)  # fewer resamples: the wiring, not the statistics


def _tables(runs: list[RunData], settings: BootstrapSettings = FEW) -> tuple[Table, Table | None]:
    intervals = bootstrap_runs(runs, settings)
    return ablation_table(runs, intervals), difference_table(runs, intervals)


def _results(path: Path) -> PanopticResults:
    return PanopticResults.from_json(json.loads((path / "metrics.json").read_text()))


def test_ablation_rows_are_the_metrics_in_percent(complete_runs: list[Path]) -> None:
    runs = [load_run(p) for p in complete_runs]
    table, _ = _tables(runs)
    frame = table.frame.set_index("run")
    for run in runs:
        m = json.loads((run.path / "metrics.json").read_text())
        row = frame.loc[run.name]
        assert row["PQ"] == pytest.approx(100 * m["pq"])
        assert row["SQ"] == pytest.approx(100 * m["sq"])
        assert row["RQ"] == pytest.approx(100 * m["rq"])
        assert row["PQ†"] == pytest.approx(100 * m["pq_dagger"])
        assert row["PQ_th"] == pytest.approx(100 * m["things"]["pq"])
        assert row["PQ_st"] == pytest.approx(100 * m["stuff"]["pq"])
        assert row["mIoU"] == pytest.approx(100 * m["miou"])  # MiouResult.miou
        assert row["AP_M"] == pytest.approx(100 * m["mask_ap"]["ap"])  # MaskAPResult.ap
        assert row["Boundary PQ"] == pytest.approx(100 * m["boundary"]["boundary_pq"])
        assert row["images"] == m["n_images"]
    assert table.row_kinds == ("reproduced", "reproduced")  # synthetic: no paper rows
    cells = dict(zip(table.frame["run"], table.cells(), strict=True))
    pq = table.columns.index("PQ")
    written = json.loads((complete_runs[0] / "metrics.json").read_text())["pq"]
    assert cells["combined"][pq].text == f"{100 * written:.1f}"
    assert "PQ low" not in table.columns  # the bounds show under PQ, not as columns
    assert table.columns.index("Boundary PQ") == pq + 1  # beside PQ


def test_a_run_without_boundary_pq_shows_a_dash(complete_runs: list[Path], tmp_path: Path) -> None:
    copy = tmp_path / "combined"
    shutil.copytree(complete_runs[0], copy)
    metrics = json.loads((copy / "metrics.json").read_text())
    del metrics["boundary"]
    (copy / "metrics.json").write_text(json.dumps(metrics))
    table, _ = _tables([load_run(copy)])
    (row,) = table.cells()
    assert row[table.columns.index("Boundary PQ")].text == "—"
    assert row[table.columns.index("PQ")].text != "—"


def test_intervals_are_panoptic_metrics_bootstrap_of_the_files(complete_runs: list[Path]) -> None:
    runs = [load_run(p) for p in complete_runs]
    ablation, differences = _tables(runs)
    assert differences is not None
    rows = ablation.frame.set_index("run")
    for path in complete_runs:
        expected = bootstrap(_results(path), n_samples=FEW.n_samples, seed=FEW.seed)
        row = rows.loc[path.name]
        assert row["PQ low"] == pytest.approx(100 * expected.pq.low)
        assert row["PQ high"] == pytest.approx(100 * expected.pq.high)
        assert row["PQ† low"] == pytest.approx(100 * expected.pq_dagger.low)
        assert row["PQ† high"] == pytest.approx(100 * expected.pq_dagger.high)
        assert row["PQ low"] <= row["PQ"] <= row["PQ high"]
    combined, independent = (_results(p) for p in complete_runs)
    paired = paired_bootstrap(independent, combined, n_samples=FEW.n_samples, seed=FEW.seed)
    diff = differences.frame.set_index("run").loc["independent − combined"]
    assert diff["PQ"] == pytest.approx(100 * (independent.pq - combined.pq))
    assert diff["PQ low"] == pytest.approx(100 * paired.pq.low)
    assert diff["PQ† high"] == pytest.approx(100 * paired.pq_dagger.high)
    assert diff["p (PQ)"] == pytest.approx(paired.p_value)
    cells = dict(zip(differences.frame["run"], differences.cells(), strict=True))
    shown = cells["independent − combined"][differences.columns.index("PQ")]
    assert shown.note == f"[{100 * paired.pq.low:+.1f}, {100 * paired.pq.high:+.1f}]".replace(
        "-", "−"
    )


def test_a_run_against_an_exact_copy_of_itself_differs_by_zero(
    copy_runs: Callable[[], list[Path]],
) -> None:
    # Derivation: identical per-image sums give identical PQ on every resample, so every
    # bootstrap difference is exactly 0: the interval is [0, 0] and the p-value is 1.
    combined, independent = copy_runs()
    shutil.copy(combined / "metrics.json", independent / "metrics.json")
    _, differences = _tables([load_run(combined), load_run(independent)])
    assert differences is not None
    row = differences.frame.set_index("run").loc["independent − combined"]
    for column in ("PQ", "PQ low", "PQ high", "PQ†", "PQ† low", "PQ† high"):
        assert row[column] == 0.0, column
    assert row["p (PQ)"] == 1.0


def test_runs_on_other_images_get_no_paired_interval(copy_runs: Callable[[], list[Path]]) -> None:
    combined, independent = copy_runs()
    metrics = json.loads((independent / "metrics.json").read_text())
    metrics["per_image"] = metrics["per_image"][:-1]  # one image fewer
    (independent / "metrics.json").write_text(json.dumps(metrics))
    intervals = bootstrap_runs([load_run(combined), load_run(independent)], FEW)
    assert set(intervals.per_run) == {"combined", "independent"}
    assert intervals.paired == {}
    (notice,) = intervals.notices
    assert notice.startswith("independent − combined: no paired interval")
    assert "not on the same images" in notice


def test_paper_rows_appear_beside_runs_on_the_papers_datasets(
    copy_runs: Callable[[], list[Path]],
) -> None:
    paths = copy_runs()
    for path in paths:
        m = json.loads((path / "metrics.json").read_text())
        (path / "metrics.json").write_text(json.dumps(m | {"dataset": "Cityscapes"}))
    table, _ = _tables([load_run(p) for p in paths])
    paper = table.frame[[k == "paper" for k in table.row_kinds]].set_index("source", append=True)
    assert len(paper) == len(paper_rows("cityscapes")) == 3
    combined = table.frame[table.frame["run"] == "combined (Ours Combined)"].iloc[0]
    # Table 1, Cityscapes, Ours Combined: 59.8 63.6 54.6 59.0 33.0 76.2
    assert [combined[c] for c in ("PQ", "PQ_st", "PQ_th", "PQ†", "AP_M", "mIoU")] == [
        59.8,
        63.6,
        54.6,
        59.0,
        33.0,
        76.2,
    ]
    assert combined["source"] == "paper Table 1"


def test_differences_are_each_run_minus_combined(copy_runs: Callable[[], list[Path]]) -> None:
    paths = copy_runs()
    for path in paths:  # on Cityscapes the paper's own difference is shown too
        m = json.loads((path / "metrics.json").read_text())
        (path / "metrics.json").write_text(json.dumps(m | {"dataset": "cityscapes"}))
    runs = [load_run(p) for p in paths]
    _, table = _tables(runs)
    assert table is not None
    rows = table.frame.set_index("run")
    a, b = (json.loads((p / "metrics.json").read_text()) for p in paths)
    mine = rows.loc["independent − combined"]
    assert mine["PQ"] == pytest.approx(100 * (b["pq"] - a["pq"]))
    assert mine["mIoU"] == pytest.approx(100 * (b["miou"] - a["miou"]))
    assert mine["AP_M"] == pytest.approx(100 * (b["mask_ap"]["ap"] - a["mask_ap"]["ap"]))
    paper = rows.loc["independent − combined (paper)"]
    # §5.1: independent PQ 59.8 and PQ† 59.0, Table 1 combined PQ 59.8 and PQ† 59.0.
    assert paper["PQ"] == pytest.approx(0.0)
    assert paper["PQ†"] == pytest.approx(0.0)
    # The independent mIoU (73.8) against the combined one (76.2).
    assert paper["mIoU"] == pytest.approx(73.8 - 76.2)
    assert math.isnan(paper["PQ_th"])  # the typo'd value is left out
    assert math.isnan(paper["PQ low"])  # the paper gives no intervals


def test_no_difference_table_without_a_combined_run(complete_runs: list[Path]) -> None:
    runs = [load_run(complete_runs[1])]
    assert difference_table(runs, bootstrap_runs(runs, FEW)) is None


def test_cost_table_puts_the_runs_figures_beside_the_papers(complete_runs: list[Path]) -> None:
    written = json.loads((complete_runs[0] / "cost.json").read_text())
    cost = gather_cost([load_run(p) for p in complete_runs])
    assert cost.notices == ()
    assert cost.setting == "preset tiny-synthetic, 192×384"
    table = cost_table(cost)
    assert table is not None
    rows = table.frame.set_index("figure")
    params = rows.loc["parameters (M)"]
    assert params["combined"] == f"{written['combined']['params'] / 1e6:.2f}"
    assert params["independent (paper)"] == "78.06"
    assert params["combined (paper)"] == "51.43"
    ratio = written["independent"]["params"] / written["combined"]["params"]
    assert params["ratio"] == f"{ratio:.3f}×"
    assert params["ratio (paper)"] == f"{78.06 / 51.43:.3f}×"  # 1.518: "≈ 51.8% more"
    macs = rows.loc["dense-conv multiply-adds (T)"]
    assert macs["combined (paper)"] == "0.514"
    # Below 0.1 three significant digits, not the paper's 0.001 T for a small model.
    assert macs["combined"] == f"{written['combined']['dense_conv_macs'] / 1e12:#.3g}"
    assert macs["combined"] != f"{written['combined']['dense_conv_macs'] / 1e12:.3f}"
    assert macs["independent (paper)"] == "0.864"
    assert PAPER_COST["independent"]["dense_conv_macs"] == 0.864e12


def test_a_flat_cost_json_counts_for_the_runs_own_form(copy_runs: Callable[[], list[Path]]) -> None:
    paths = copy_runs()
    (paths[1] / "cost.json").write_text(json.dumps({"params": 7e6}))
    (paths[0] / "cost.json").write_text(json.dumps({"combined": {"params": 5e6}}))
    cost = gather_cost([load_run(p) for p in paths])
    assert cost.forms == {"combined": {"params": 5e6}, "independent": {"params": 7e6}}


def test_disagreeing_cost_files_are_flagged(copy_runs: Callable[[], list[Path]]) -> None:
    paths = copy_runs()
    first = json.loads((paths[0] / "cost.json").read_text())
    other = json.loads((paths[1] / "cost.json").read_text())
    other["combined"]["params"] += 1
    (paths[1] / "cost.json").write_text(json.dumps(other))
    cost = gather_cost([load_run(p) for p in paths])
    assert cost.forms["combined"]["params"] == first["combined"]["params"]  # the first run wins
    assert len(cost.notices) == 1
    assert "independent/cost.json: combined params" in cost.notices[0]


def test_timing_table_converts_units(complete_runs: list[Path]) -> None:
    runs = [load_run(p) for p in complete_runs]
    table = timing_table(runs)
    assert table is not None
    rows = table.frame.set_index("run")
    for run in runs:
        t = json.loads((run.path / "timings.json").read_text())
        assert rows.loc[run.name, "inference ms / image"] == pytest.approx(
            1000 * t["inference_seconds_per_image"]
        )
        assert rows.loc[run.name, "peak memory (MiB)"] == pytest.approx(
            t["peak_memory_bytes"] / 2**20
        )
        assert rows.loc[run.name, "train time (min)"] == pytest.approx(t["train_seconds"] / 60)
        assert rows.loc[run.name, "device"] == "cpu"


def test_mask_ap_not_computed_is_a_dash(copy_runs: Callable[[], list[Path]]) -> None:
    path = copy_runs()[0]
    m = json.loads((path / "metrics.json").read_text())
    m["mask_ap"] = None  # contracts §4: null when not computed
    (path / "metrics.json").write_text(json.dumps(m))
    table, _ = _tables([load_run(path)])
    assert math.isnan(table.frame.set_index("run").loc["combined", "AP_M"])
    assert table.cells()[0][table.columns.index("AP_M")].text == "—"
