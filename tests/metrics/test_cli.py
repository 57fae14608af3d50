"""The `panoptic-metrics` command line: evaluate, compare, errors, `python -m`, and the console
script as pip installs it, end to end."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from panoptic_metrics import evaluate_coco
from panoptic_metrics.cli import main
from panoptic_metrics.png import inflate

from tests.metrics.conftest import CocoSet
from tests.metrics.installed import Installed

ROOT = Path(__file__).resolve().parents[2]


def _evaluate_args(data: CocoSet, *extra: str) -> list[str]:
    return [
        "evaluate",
        "--gt-json",
        str(data.gt_json),
        "--gt-folder",
        str(data.gt_folder),
        "--pred-json",
        str(data.pred_json),
        "--pred-folder",
        str(data.pred_folder),
        "--no-progress",
        *extra,
    ]


def test_evaluate_prints_tables_and_writes_json_and_csv(
    random_set: CocoSet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, table = tmp_path / "results.json", tmp_path / "classes.csv"
    args = _evaluate_args(random_set, "--workers", "2", "--output", str(out))
    assert main([*args, "--per-class-csv", str(table), "--mode", "pixels"]) == 0
    printed = capsys.readouterr().out
    expected = evaluate_coco(*random_set.args(), mode="pixels", workers=1, progress=False)
    for line in ("All", "Things", "Stuff", "person", "bike"):
        assert line in printed
    assert f"{100 * expected.pq:.2f}" in printed
    assert f"PNG decoding: numba unfilter, inflate by {inflate.describe()}" in printed
    assert json.loads(out.read_text()) == expected.to_json()
    rows = list(csv.DictReader(table.open()))
    assert [int(r["category_id"]) for r in rows] == [c.category.id for c in expected.per_class]
    assert [int(r["tp"]) for r in rows] == [c.tp for c in expected.per_class]


def test_bad_input_exits_2_and_keeps_existing_output(
    random_set: CocoSet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.json"
    out.write_text("previous results")
    broken = tmp_path / "pred.json"
    content = json.loads(random_set.pred_json.read_text())
    content["annotations"][0]["file_name"] = "../escape.png"
    broken.write_text(json.dumps(content))
    data = CocoSet(random_set.gt_json, random_set.gt_folder, broken, random_set.pred_folder)
    assert main(_evaluate_args(data, "--workers", "1", "--output", str(out))) == 2
    err = capsys.readouterr().err
    assert "panoptic-metrics: error:" in err
    assert str(broken) in err
    assert "points outside its folder" in err
    assert out.read_text() == "previous results"


def test_compare_prints_the_paired_difference(
    random_set: CocoSet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert (
        main(_evaluate_args(random_set, "--workers", "1", "--output", str(a), "--mode", "pixels"))
        == 0
    )
    assert main(_evaluate_args(random_set, "--workers", "1", "--output", str(b))) == 0
    capsys.readouterr()
    assert main(["compare", str(a), str(b), "--samples", "200", "--seed", "2"]) == 0
    printed = capsys.readouterr().out
    assert "A − B, paired bootstrap over 28 images (200 resamples, seed 2), 95% interval" in printed
    pq_line = next(line for line in printed.splitlines() if line.strip().startswith("PQ "))
    a_pq, b_pq = (json.loads(p.read_text())["pq"] for p in (a, b))
    assert f"{100 * (a_pq - b_pq):+.2f}" in pq_line
    assert main(["compare", str(a), str(tmp_path / "missing.json")]) == 2
    assert "missing.json: file not found" in capsys.readouterr().err


def test_python_dash_m_runs_the_cli() -> None:
    env_path = f"{ROOT}:{ROOT / 'metrics' / 'src'}"
    done = subprocess.run(
        [sys.executable, "-m", "panoptic_metrics", "--version"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
        check=True,
    )
    version, decoder = done.stdout.strip().splitlines()
    assert version == "panoptic-metrics 0.1.0"
    assert decoder == f"PNG decoding: numba unfilter, inflate by {inflate.describe()}"


def test_version_names_the_zlib_fallback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Where zlib-ng has no wheel, CPython's zlib inflates: --version says so."""
    for module in ("zlib_ng", "zlib_ng.zlib_ng"):
        monkeypatch.setitem(sys.modules, module, None)  # import fails: not installed
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    decoder = capsys.readouterr().out.splitlines()[1]
    assert decoder.startswith(
        f"PNG decoding: numba unfilter, inflate by CPython zlib {zlib.ZLIB_RUNTIME_VERSION}"
    )
    assert "zlib-ng is not installed" in decoder


def test_console_script_is_declared() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "metrics" / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"panoptic-metrics": "panoptic_metrics.cli:main"}


@pytest.mark.slow
def test_console_script_end_to_end(
    installed_metrics: Installed, random_set: CocoSet, tmp_path: Path
) -> None:
    """`panoptic-metrics` as pip installs it: every option of evaluate, then compare, then a
    bad input, each in its own process."""
    script = installed_metrics.script("panoptic-metrics")
    pixels, strict, table = tmp_path / "pixels.json", tmp_path / "strict.json", tmp_path / "c.csv"
    options = ["--workers", "2", "--output", str(pixels), "--per-class-csv", str(table)]
    done = installed_metrics.run(
        [script, *_evaluate_args(random_set, *options, "--mode", "pixels")]
    )
    expected = evaluate_coco(*random_set.args(), mode="pixels", workers=1, progress=False)
    assert json.loads(pixels.read_text()) == expected.to_json()
    assert f"{100 * expected.pq:.2f}" in done.stdout
    assert f"wrote {pixels}" in done.stdout
    rows = list(csv.DictReader(table.open()))
    assert [int(r["fp"]) for r in rows] == [c.fp for c in expected.per_class]
    assert [float(r["iou_sum"]) for r in rows] == [c.iou_sum for c in expected.per_class]
    installed_metrics.run([script, *_evaluate_args(random_set, "--output", str(strict))])
    default = evaluate_coco(*random_set.args(), workers=1, progress=False)  # strict
    assert json.loads(strict.read_text()) == default.to_json()
    done = installed_metrics.run([script, "compare", str(pixels), str(strict), "--samples", "50"])
    assert "A − B, paired bootstrap over 28 images (50 resamples, seed 0)" in done.stdout
    assert f"{100 * (expected.pq - default.pq):+.2f}" in done.stdout
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    args = _evaluate_args(CocoSet(*random_set.args()[:2], broken, random_set.pred_folder))
    failed = installed_metrics.run([script, *args, "--output", str(strict)], check=False)
    assert failed.returncode == 2
    assert f"panoptic-metrics: error: {broken}: invalid JSON" in failed.stderr
    assert json.loads(strict.read_text()) == default.to_json()  # the earlier output is kept


@pytest.mark.parametrize("value", [2**63, 2**64 + 1, 2**70, 1e300])
def test_values_beyond_64_bits_exit_2_with_one_line(
    random_set: CocoSet, tmp_path: Path, capsys: pytest.CaptureFixture[str], value: float
) -> None:
    """Issue 11: a segment id of 2**63 (or an area of 1e300) in a prediction was a traceback."""
    broken = tmp_path / "pred.json"
    content = json.loads(random_set.pred_json.read_text())
    content["annotations"][0]["segments_info"][0]["id"] = value
    broken.write_text(json.dumps(content))
    data = CocoSet(random_set.gt_json, random_set.gt_folder, broken, random_set.pred_folder)
    assert main(_evaluate_args(data, "--workers", "1")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"panoptic-metrics: error: {broken}")
    assert "beyond the 64-bit integer range" in err


def test_an_unexpected_error_exits_3_with_one_line_and_writes_nothing(
    random_set: CocoSet,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Any exception but PanopticInputError is a bug: exit 3, one line asking for a report,
    the traceback only with --debug; the outputs are rendered before any is written."""
    out, table = tmp_path / "results.json", tmp_path / "classes.csv"
    out.write_text("previous results")

    def broken_csv(results: object) -> str:
        raise RuntimeError("rendering failed\non two lines")

    monkeypatch.setattr("panoptic_metrics.cli.per_class_csv", broken_csv)
    args = _evaluate_args(random_set, "--workers", "1", "--output", str(out))
    assert main([*args, "--per-class-csv", str(table)]) == 3
    captured = capsys.readouterr()
    assert captured.err == (
        "panoptic-metrics: internal error: RuntimeError: rendering failed on two lines (a bug: "
        "please report it with the command and its input; --debug shows the traceback)\n"
    )
    assert captured.out == ""  # nothing printed before the outputs were rendered
    assert out.read_text() == "previous results"
    assert not table.exists()
    assert main([*args, "--per-class-csv", str(table), "--debug"]) == 3
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.endswith("--debug shows the traceback)\n")


def test_an_unwritable_output_exits_2(
    random_set: CocoSet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    args = _evaluate_args(random_set, "--workers", "1", "--output", str(blocker / "r.json"))
    assert main(args) == 2
    assert f"panoptic-metrics: error: {blocker / 'r.json'}: cannot write the file" in (
        capsys.readouterr().err
    )


@pytest.mark.slow
def test_a_cold_evaluation_compiles_each_kernel_once_before_the_workers(
    random_set: CocoSet, tmp_path: Path
) -> None:
    """With an empty numba cache, `evaluate --workers 2` compiles each kernel signature once
    (numba's cache log names every signature it writes) and only the signatures these PNGs
    need: one of `intersection_table` (uint32 ids on both sides), not four."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env.update(NUMBA_CACHE_DIR=str(tmp_path / "numba"), NUMBA_DEBUG_CACHE="1")
    env["PYTHONPATH"] = f"{ROOT / 'metrics' / 'src'}{os.pathsep}{ROOT}"
    args = _evaluate_args(random_set, "--workers", "2")
    done = subprocess.run(
        [sys.executable, "-m", "panoptic_metrics", *args],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    saved = [line.split("'")[1] for line in done.stdout.splitlines() if "data saved to" in line]
    assert saved  # the log is there: the cache was empty
    assert len(saved) == len(set(saved))  # no signature compiled (and written) twice
    assert len([path for path in saved if "intersection_table" in path]) == 1


def test_errors_flag_prints_the_decomposition(
    random_set: CocoSet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--errors` prints one row per cause with its count and ΔPQ (the JSON's, in points);
    `compare --errors` prints A, B and A − B of each ΔPQ with its paired interval."""
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(_evaluate_args(random_set, "--workers", "1", "--output", str(a), "--errors")) == 0
    printed = capsys.readouterr().out
    data = json.loads(a.read_text())
    missed = next(line for line in printed.splitlines() if line.startswith("FN missed"))
    count, delta = missed.split("|")[1].split()[:2]
    assert int(count) == data["errors"]["counts"]["fn_missed"]
    assert delta == f"{100 * data['errors']['delta_pq']['fn_missed']:+.2f}"
    everything = next(line for line in printed.splitlines() if line.startswith("everything"))
    assert everything.split("|")[1].split()[0] == f"{100 * (1 - data['pq']):+.2f}"
    assert (
        main(_evaluate_args(random_set, "--workers", "1", "--output", str(b), "--mode", "pixels"))
        == 0
    )
    capsys.readouterr()
    assert main(["compare", str(a), str(b), "--samples", "50", "--errors"]) == 0
    printed = capsys.readouterr().out
    row = next(line for line in printed.splitlines() if line.startswith("FN missed"))
    other = json.loads(b.read_text())["errors"]["delta_pq"]["fn_missed"]
    mine = data["errors"]["delta_pq"]["fn_missed"]
    assert f"{100 * (mine - other):+.2f}" in row
