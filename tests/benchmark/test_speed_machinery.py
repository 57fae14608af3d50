"""The speed benchmark's machinery works on a tiny workload: generator, cache, peers, summary.

Not a timed test: the timings themselves are the benchmark's (`nox -s bench`).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.peers import PeerRun, available, check_agreement, run_peer
from benchmark.speed_report import summary_lines, write_report
from benchmark.speed_workload import COCO, Workload, WorkloadSpec, ground_truth, make_workload

TINY = WorkloadSpec(pairs=4, height=96, width=192, seed=3)
TINY_COCO = WorkloadSpec(pairs=6, height=480, width=640, seed=3, kind="coco")  # COCO's size


def _ids(path: Path) -> np.ndarray:
    rgb = np.asarray(Image.open(path), dtype=np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def test_workload_is_valid_coco_panoptic_and_cached(tmp_path: Path) -> None:
    workload = make_workload(tmp_path, TINY)
    gt = json.loads(workload.gt_json.read_text())
    pred = json.loads(workload.pred_json.read_text())
    assert [i["id"] for i in gt["images"]] == [1, 2, 3, 4]  # integer ids, as hotcoco needs
    categories = {c["id"] for c in gt["categories"]}
    for folder, data in ((workload.gt_folder, gt), (workload.pred_folder, pred)):
        for annotation in data["annotations"]:
            ids = _ids(folder / annotation["file_name"])
            segments = {s["id"]: s for s in annotation["segments_info"]}
            present, counts = np.unique(ids[ids > 0], return_counts=True)
            assert set(present.tolist()) == set(segments)  # every id in both PNG and JSON
            assert all(
                segments[i]["area"] == c
                for i, c in zip(present.tolist(), counts.tolist(), strict=True)
            )
            assert {s["category_id"] for s in segments.values()} <= categories
    assert all(s["iscrowd"] == 0 for a in pred["annotations"] for s in a["segments_info"])
    stamp = workload.gt_json.stat().st_mtime_ns
    again = make_workload(tmp_path, TINY)  # reused, not regenerated
    assert again.root == workload.root
    assert again.gt_json.stat().st_mtime_ns == stamp
    assert (
        make_workload(tmp_path, WorkloadSpec(pairs=2, height=96, width=192)).root != workload.root
    )
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.slow
def test_ground_truth_at_cityscapes_size_has_cityscapes_segment_counts() -> None:
    """benchmark/README.md: about 36 segments per 1024x2048 image, with crowd and void."""
    spec = WorkloadSpec()
    segments = [ground_truth(spec, i)[1] for i in range(4)]
    counts = [len(s) for s in segments]
    assert 30 <= np.mean(counts) <= 42, counts
    assert any(x["iscrowd"] for s in segments for x in s)
    void = [1 - sum(x["area"] for x in s) / (1024 * 2048) for s in segments]
    assert max(void) > 0.001, void


def test_vernier_runs_and_agrees_with_ours_on_the_tiny_workload(tmp_path: Path) -> None:
    workload = make_workload(tmp_path, TINY)
    assert available("vernier") is None  # a declared test dependency
    vernier = run_peer("vernier", workload, workers=2, log=tmp_path / "vernier.log")
    ours = run_peer("ours", workload, workers=2, log=tmp_path / "ours.log")
    assert vernier.pairs == ours.pairs == 4
    assert 0 < vernier.result["pq"] < 1
    assert len(vernier.result["per_class"]) > 5  # a real comparison, class by class
    check_agreement(vernier, ours)  # PQ, SQ, RQ overall and per class, to 1e-9


def test_ours_boundary_is_ours_with_boundary_pq_on_the_tiny_workload(tmp_path: Path) -> None:
    """The cost measurement of Boundary PQ runs ours with `--boundary`: the same PQ, and a
    Boundary PQ no higher (min(mask IoU, boundary IoU) never raises a match's IoU)."""
    from panoptic_metrics import evaluate_coco

    workload = make_workload(tmp_path, TINY)
    boundary = run_peer("ours-boundary", workload, workers=2, log=tmp_path / "b.log")
    ours = run_peer("ours", workload, workers=2, log=tmp_path / "ours.log")
    check_agreement(boundary, ours)
    assert "boundary_pq" not in ours.result
    args = (workload.gt_json, workload.gt_folder, workload.pred_json, workload.pred_folder)
    expected = evaluate_coco(*args, workers=1, progress=False, boundary=True).boundary
    assert expected is not None
    assert boundary.result["boundary_pq"] == expected.pq
    assert 0 < expected.pq < ours.result["pq"]


def test_coco_like_workload_is_deterministic_with_coco_sizes(tmp_path: Path) -> None:
    """480x640, about 20 segments per image (the workload's intent), things and stuff mixed."""
    assert (COCO.kind, COCO.pairs, COCO.height, COCO.width) == ("coco", 5000, 480, 640)
    first = make_workload(tmp_path / "a", TINY_COCO)
    second = make_workload(tmp_path / "b", TINY_COCO)
    assert first.root.name == second.root.name == "speed-coco-6x480x640-s3"
    files = sorted(p.relative_to(first.root) for p in first.root.rglob("*") if p.is_file())
    assert len(files) == 2 * 6 + 3  # the PNGs, gt.json, pred.json, workload.json
    assert all((first.root / f).read_bytes() == (second.root / f).read_bytes() for f in files)
    gt = json.loads(first.gt_json.read_text())
    assert {(i["height"], i["width"]) for i in gt["images"]} == {(480, 640)}
    assert Image.open(first.gt_folder / "000001.png").size == (640, 480)
    segments = [a["segments_info"] for a in gt["annotations"]]
    assert 15 <= np.mean([len(s) for s in segments]) <= 25, [len(s) for s in segments]
    things = {c["id"] for c in gt["categories"] if c["isthing"]}
    for info in segments:
        kinds = [s["category_id"] in things for s in info]
        assert kinds.count(False) >= 2, kinds  # stuff under many things
        assert kinds.count(True) >= 8, kinds
    small = [s["area"] < 32**2 for info in segments for s in info if s["category_id"] in things]
    assert np.mean(small) > 0.2  # COCO's "small" objects: many
    assert Workload.load(first.root).spec == TINY_COCO
    assert make_workload(tmp_path / "a", TINY).root != first.root


def test_peers_agree_on_the_tiny_coco_like_workload(tmp_path: Path) -> None:
    workload = make_workload(tmp_path, replace(TINY_COCO, pairs=3))
    runs = [
        run_peer(peer, workload, workers=2, log=tmp_path / f"{peer}.log")
        for peer in ("ours", "hotcoco", "vernier")
    ]
    assert [r.pairs for r in runs] == [3, 3, 3]
    assert 0 < runs[0].result["pq"] < 1
    assert len(runs[0].result["per_class"]) > 5
    for other in runs[1:]:
        check_agreement(runs[0], other)


@pytest.mark.slow
@pytest.mark.parametrize("spec", [TINY, TINY_COCO], ids=["cityscapes", "coco"])
def test_peers_run_and_agree_on_the_tiny_workload(tmp_path: Path, spec: WorkloadSpec) -> None:
    workload = make_workload(tmp_path, spec)
    runs = []
    for peer in ("hotcoco", "vernier", "panopticapi", "cityscapes", "ours"):
        assert available(peer) is None, peer  # declared test dependencies
        run = run_peer(peer, workload, workers=2, log=tmp_path / f"{peer}.log")
        assert run.pairs == spec.pairs
        assert run.wall_s > 0
        assert run.cpu_s > 0
        assert 5 < run.peak_rss_mib < 2000
        # the tree's sampled peak: at least the largest process as sampled (20 ms apart)
        assert 0.5 * run.peak_rss_mib < run.tree_rss_mib < 3 * 2000
        assert 0 < run.result["pq"] < 1
        runs.append(run)
    for other in runs[1:]:
        check_agreement(runs[0], other)
    assert [r.peer for r in runs] == ["hotcoco", "vernier", "panopticapi", "cityscapes", "ours"]
    relative = Workload.load(Path(os.path.relpath(workload.root)))  # as `--speed-cache data/...`
    limited = run_peer("ours", relative, workers=1, limit=2)
    assert limited.pairs == 2


def test_agreement_check_summary_ratios_and_report(tmp_path: Path) -> None:
    per_class = {"7": {"pq": 0.5, "sq": 0.8, "rq": 0.625}}
    base = {"pq": 0.5, "sq": 0.8, "rq": 0.625, "per_class": per_class}
    ours = PeerRun("ours", 500, 4.0, 7.0, 90.0, base, tree_rss_mib=250.0)
    hotcoco = PeerRun("hotcoco", 500, 5.0, 10.0, 63.0, base)
    panopticapi = PeerRun("panopticapi", 500, 36.0, 72.0, 155.0, base)
    check_agreement(ours, hotcoco)
    off = PeerRun("panopticapi", 500, 36.0, 72.0, 155.0, {**base, "pq": 0.5 + 1e-6})
    with pytest.raises(AssertionError, match="ours and panopticapi disagree on pq"):
        check_agreement(ours, off)
    off_rq = {"7": {**per_class["7"], "rq": 0.625 + 1e-6}}
    off_class = PeerRun("vernier", 500, 6.0, 9.0, 200.0, {**base, "per_class": off_rq})
    with pytest.raises(AssertionError, match="ours and vernier disagree on the RQ of 7"):
        check_agreement(ours, off_class)
    vernier = PeerRun("vernier", 500, 8.0, 14.0, 200.0, base)
    boundary = PeerRun("ours-boundary", 500, 6.0, 10.5, 95.0, base)
    lines = summary_lines(
        {"ours": [ours], "hotcoco": [hotcoco], "vernier": [vernier], "panopticapi": [panopticapi]}
        | {"ours-boundary": [boundary]},
        {"ours fused (zlib-ng)": 2.0},
    )
    text = "\n".join(lines)
    # each peer's time over ours: above 1, ours is faster
    assert "hotcoco / ours: wall   1.25  CPU   1.43" in text  # 5 / 4 s, 10 / 7 s
    assert "vernier / ours: wall   2.00  CPU   2.00" in text  # 8 / 4 s, 14 / 7 s
    assert "panopticapi / ours: wall   9.00  CPU  10.29  (target: >= 8)" in text  # 36/4, 72/7
    assert "fastest peer (hotcoco) / ours: wall   1.25  (target: >= 1.5)" in text
    assert "ours-cold" not in text  # no cold run, no cold ratio
    cold = PeerRun("ours-cold", 500, 10.0, 20.0, 300.0, base)
    cold_text = "\n".join(summary_lines({"hotcoco": [hotcoco], "ours-cold": [cold]}, {}))
    assert "fastest peer (hotcoco) / ours-cold: wall   0.50  (target: >= 0.5)" in cold_text
    assert (
        "ours-boundary / ours: wall   1.50  CPU   1.50  (target: wall <= 2)" in text
    )  # 6/4, 10.5/7
    assert "ours            500     4.00     7.00            90       250  0.500000000" in text
    assert "ours fused (zlib-ng)             2.00" in text
    write_report(tmp_path / "speed-report.json", {"ours": [ours]}, {})
    report = json.loads((tmp_path / "speed-report.json").read_text())
    assert report["runs"]["ours"][0]["wall_s"] == 4.0
    assert not list(tmp_path.glob("*.part"))


def test_cold_and_installed_runs_of_ours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ours-cold` starts from an empty kernel cache, and with an installed venv's `python`
    ours runs that interpreter's library (no PYTHONPATH); the other peers are unchanged."""
    import subprocess

    from benchmark import peers

    workload = make_workload(tmp_path, TINY)
    seen: list[tuple[list[str], dict[str, str]]] = []

    def fake_run(launcher: list[str], *, env: dict[str, str], **_: object) -> object:
        command = launcher[5:]  # after `python -S -c LAUNCHER LOG`
        seen.append((command, env))
        if "NUMBA_CACHE_DIR" in env:
            cache = Path(env["NUMBA_CACHE_DIR"])
            assert not cache.exists() or not any(cache.iterdir())  # nothing compiled yet
        output = Path(command[command.index("--output") + 1])
        scores = {"pq": 0.5, "sq": 0.8, "rq": 0.625, "per_class": {}, "pairs": 4}
        output.write_text(json.dumps(scores))
        usage = {"exit": 0, "wall_s": 1.0, "cpu_s": 1.5, "maxrss_kib": 1024, "tree_rss_bytes": 0}
        return subprocess.CompletedProcess(launcher, 0, json.dumps(usage), "")

    monkeypatch.setattr(peers.subprocess, "run", fake_run)
    monkeypatch.setenv("PYTHONPATH", "/the/checkout")
    venv_python = tmp_path / "venv" / "bin" / "python"
    cold = run_peer("ours-cold", workload, workers=2, python=venv_python)
    assert cold.pairs == 4
    assert cold.result["pq"] == 0.5
    command, env = seen[-1]
    assert command[:4] == [str(venv_python), "-m", "panoptic_metrics", "evaluate"]
    assert "PYTHONPATH" not in env
    assert "NUMBA_CACHE_DIR" in env
    run_peer("ours", workload, workers=2, python=venv_python)
    command, env = seen[-1]
    assert command[0] == str(venv_python)
    assert "NUMBA_CACHE_DIR" not in env
    run_peer("ours-boundary", workload, workers=2, python=venv_python)
    assert seen[-1][0][-1] == "--boundary"
    for peer in ("hotcoco", "ours"):  # without a venv, or not ours: this environment's child
        run_peer(peer, workload, workers=2, python=venv_python if peer == "hotcoco" else None)
        command, env = seen[-1]
        assert command[1:4] == ["-m", "benchmark.peers", peer]
        assert env["PYTHONPATH"] == "/the/checkout"


@pytest.mark.slow
def test_a_first_run_compiles_no_error_message_formatting(tmp_path: Path) -> None:
    """benchmark.compile_time lists what a first run compiles: the decoder and PQ kernels, and
    none of numba's shape-mismatch messages (a slice assignment in a kernel compiles one: a
    third of the compile time, kernels/png.py)."""
    import subprocess
    import sys

    workload = make_workload(tmp_path, TINY)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmark.compile_time",
            str(workload.root),
            *("--top", "200", "--serial"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    listed = done.stdout
    for kernel in ("rgb_rows_to_ids", "intersection_table", "match_segments"):
        assert kernel in listed
    assert "raise_with_shape_context" not in listed
    assert "str_generic" not in listed


@pytest.mark.slow
def test_a_first_run_compiles_the_matching_beside_the_first_pair(tmp_path: Path) -> None:
    """On a first run the intersection and matching kernels compile in a forked process
    while this one decodes the first pair and compiles the decomposition's
    (`evaluate._compile_beside`); it loads the other two from the cache that process wrote,
    compiling neither again."""
    import subprocess
    import sys

    workload = make_workload(tmp_path, TINY)
    command = [sys.executable, "-m", "benchmark.compile_time", str(workload.root)]
    listed = subprocess.run(
        [*command, "--top", "200"], capture_output=True, text=True, check=True
    ).stdout
    assert "rgb_rows_to_ids" in listed
    assert "decompose_errors" in listed
    for kernel in ("intersection_table", "match_segments"):
        assert kernel not in listed
