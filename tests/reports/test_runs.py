"""Loading run directories: complete ones load silently, damaged ones load with notices."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from reports.runs import load_run, number


def test_a_complete_run_loads_every_file_without_notices(complete_runs: list[Path]) -> None:
    run = load_run(complete_runs[0])
    assert run.notices == ()
    assert run.name == run.form == "combined"
    written = json.loads((complete_runs[0] / "metrics.json").read_text())
    # metrics.json is panoptic_metrics' own output: from_json rebuilds the same numbers, and
    # the typed results write the file's every key back (split and dataset beside them).
    assert run.metrics is not None
    assert run.metrics.to_json() | {"split": run.split, "dataset": run.dataset} == written
    assert (run.split, run.dataset) == ("val", "synthetic")
    assert run.results is run.metrics.panoptic
    assert run.results.pq == written["pq"]
    assert run.results.stuff.pq_dagger == written["stuff"]["pq_dagger"]
    assert run.results.n_images == written["n_images"] == 19
    assert [i.image_id for i in run.results.per_image] == [
        i["image_id"] for i in written["per_image"]
    ]
    assert run.cost is not None
    assert set(run.cost) >= {"combined", "independent"}
    assert len(run.log) == 60  # conftest.write_log: iterations 1..60
    assert [r["iteration"] for r in run.log] == list(range(1, 61))


def test_missing_files_each_get_a_notice_naming_them(copy_runs: Callable[[], list[Path]]) -> None:
    path = copy_runs()[0]
    for name in ("metrics.json", "cost.json", "log.jsonl"):
        (path / name).unlink()
    run = load_run(path)
    assert run.metrics is None
    assert run.cost is None
    assert run.log == ()
    assert run.timings is not None
    for name in ("metrics.json", "cost.json", "log.jsonl"):
        assert any(n.startswith(f"{name} is missing") for n in run.notices), name
    assert len(run.notices) == 3


def test_truncated_and_partial_json_files_are_reported(copy_runs: Callable[[], list[Path]]) -> None:
    path = copy_runs()[0]
    text = (path / "metrics.json").read_text()
    (path / "metrics.json").write_text(text[: len(text) // 2])  # a crash mid-write
    timings = json.loads((path / "timings.json").read_text())
    del timings["peak_memory_bytes"], timings["device"]
    (path / "timings.json").write_text(json.dumps(timings))
    (path / "cost.json").write_text("[1, 2]")
    run = load_run(path)
    assert run.metrics is None
    assert any("metrics.json is unreadable or not valid JSON" in n for n in run.notices)
    assert run.timings == timings
    assert any(
        n.startswith("timings.json is partial: no peak_memory_bytes, device") for n in run.notices
    )
    assert run.cost is None
    assert any("cost.json should hold a JSON object, found list" in n for n in run.notices)


def test_metrics_without_the_librarys_sums_load_with_a_notice(
    copy_runs: Callable[[], list[Path]],
) -> None:
    path = copy_runs()[0]
    metrics = json.loads((path / "metrics.json").read_text())
    for entry in metrics["per_image"]:
        del entry["classes"]  # e.g. written by hand or by another evaluator
    (path / "metrics.json").write_text(json.dumps(metrics))
    run = load_run(path)
    assert run.metrics is None  # the report shows only what the library can read back
    assert run.results is None
    assert run.dataset == "synthetic"
    (notice,) = run.notices
    assert notice.startswith(
        "metrics.json: not a panoptic_metrics results file (KeyError: 'classes')"
    )
    assert notice.endswith("this run's metrics are not shown")


def test_a_killed_runs_half_written_log_line_is_skipped(
    copy_runs: Callable[[], list[Path]],
) -> None:
    path = copy_runs()[1]
    with (path / "log.jsonl").open("a") as f:
        f.write('{"iteration": 61, "lr": 0.0')  # no closing brace, no newline
    run = load_run(path)
    assert len(run.log) == 60
    assert any("skipped 1 unreadable line(s) (61)" in n for n in run.notices)


def test_a_missing_directory_is_a_notice_not_an_error(tmp_path: Path) -> None:
    run = load_run(tmp_path / "nowhere")
    assert run.metrics is None
    assert run.notices == (
        f"run directory {tmp_path / 'nowhere'} does not exist or is not a directory",
    )


def test_number_accepts_only_finite_numbers() -> None:
    assert number(3) == 3.0
    assert number(0.25) == 0.25
    for bad in (None, "0.5", True, float("nan"), float("inf"), [1]):
        assert number(bad) is None
