"""The tables show what the runs' files hold, and the paper's numbers where the dataset matches."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest

from reports.cost import cost_table, gather_cost
from reports.paper import PAPER_COST, paper_rows
from reports.runs import load_run
from reports.tables import ablation_table, difference_table, timing_table


def test_ablation_rows_are_the_metrics_in_percent(complete_runs: list[Path]) -> None:
    runs = [load_run(p) for p in complete_runs]
    table = ablation_table(runs)
    frame = table.frame.set_index("run")
    for run in runs:
        m = json.loads((run.path / "metrics.json").read_text())
        row = frame.loc[run.name]
        assert row["PQ"] == pytest.approx(100 * m["pq"])
        assert row["PQ†"] == pytest.approx(100 * m["pq_dagger"])
        assert row["PQ_th"] == pytest.approx(100 * m["things"]["pq"])
        assert row["PQ_st"] == pytest.approx(100 * m["stuff"]["pq"])
        assert row["mIoU"] == pytest.approx(100 * m["miou"])
        assert row["images"] == m["n_images"]
        if m["mask_ap"] is None:
            assert math.isnan(row["AP_M"])
        else:
            assert row["AP_M"] == pytest.approx(100 * m["mask_ap"])
    assert table.row_kinds == ("reproduced", "reproduced")  # synthetic: no paper rows
    cells = dict(zip(table.frame["run"], table.cells(), strict=True))
    assert cells["independent"][table.frame.columns.get_loc("AP_M")] == "—"
    assert cells["combined"][table.frame.columns.get_loc("PQ")] == "55.1"  # 0.551 in the file


def test_paper_rows_appear_beside_runs_on_the_papers_datasets(
    copy_runs: Callable[[], list[Path]],
) -> None:
    paths = copy_runs()
    for path in paths:
        m = json.loads((path / "metrics.json").read_text())
        (path / "metrics.json").write_text(json.dumps(m | {"dataset": "Cityscapes"}))
    table = ablation_table([load_run(p) for p in paths])
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
    table = difference_table(runs)
    assert table is not None
    rows = table.frame.set_index("run")
    a, b = (json.loads((p / "metrics.json").read_text()) for p in paths)
    assert rows.loc["independent", "PQ"] == pytest.approx(100 * (b["pq"] - a["pq"]))
    assert rows.loc["independent", "mIoU"] == pytest.approx(100 * (b["miou"] - a["miou"]))
    # §5.1: independent PQ 59.8 and PQ† 59.0, Table 1 combined PQ 59.8 and PQ† 59.0.
    assert rows.loc["independent (paper)", "PQ"] == pytest.approx(0.0)
    assert rows.loc["independent (paper)", "PQ†"] == pytest.approx(0.0)
    # The independent mIoU (73.8) against the combined one (76.2).
    assert rows.loc["independent (paper)", "mIoU"] == pytest.approx(73.8 - 76.2)
    assert math.isnan(rows.loc["independent (paper)", "PQ_th"])  # the typo'd value is left out


def test_no_difference_table_without_a_combined_run(complete_runs: list[Path]) -> None:
    assert difference_table([load_run(complete_runs[1])]) is None


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


def test_mask_ap_may_be_panoptic_metrics_mask_ap_object(
    copy_runs: Callable[[], list[Path]],
) -> None:
    path = copy_runs()[0]
    m = json.loads((path / "metrics.json").read_text())
    # MaskApResult.to_json(): COCOeval's stats by name, `ap` first (a fraction).
    m["mask_ap"] = {"ap": 0.287, "ap50": 0.5, "per_class_ap": {"26": 0.4}}
    (path / "metrics.json").write_text(json.dumps(m))
    frame = ablation_table([load_run(path)]).frame.set_index("run")
    assert frame.loc["combined", "AP_M"] == pytest.approx(28.7)
