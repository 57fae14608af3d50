"""Run one panoptic evaluator on a workload in a fresh process; measure wall, CPU and peak memory.

Each peer runs as `python -m benchmark.peers NAME ...` so that its whole cost is counted
(interpreter start, imports, its worker processes) and nothing it leaves behind (pools, numba
caches in memory, page faults already paid) favours the next. The parent reads the child's
resource usage from `os.wait4`: CPU is user + system over the child and its waited-for
workers; peak memory is the largest resident set of any one of those processes, and the peak
of their sum (the process tree) sampled from /proc every 20 ms.

Peers: panopticapi's `pq_compute`, cityscapesscripts' `evaluatePanoptic` (both with their
worker pool sized to `--workers`), hotcoco's `pq_compute`, vernier's streaming panoptic
evaluator (strict parity mode, its thread pool sized to `--workers`), torchmetrics'
`PanopticQuality` (single process, and only on small subsets: it is about 350 times slower),
and ours, `panoptic-metrics evaluate --workers N` (when the metrics library has its command
line). `ours-cold` is ours with an empty kernel cache (`NUMBA_CACHE_DIR` a new folder each run):
the first run after installation, every kernel compiled. `ours-boundary` is ours with
`--boundary` (Boundary PQ besides PQ): not a peer but the cost of Boundary PQ, reported as its
ratio to ours. Given `python` (a fresh venv's, `--speed-installed`), ours runs as that
interpreter's `python -m panoptic_metrics evaluate`, the library as `pip install ./metrics`
installed it, with no `PYTHONPATH`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .speed_workload import Workload

PEERS = (
    "ours",
    "ours-cold",
    "ours-boundary",
    "hotcoco",
    "vernier",
    "panopticapi",
    "cityscapes",
    "torchmetrics",
)


@dataclass(frozen=True)
class PeerRun:
    """One measured run of one peer."""

    peer: str
    pairs: int
    wall_s: float
    cpu_s: float
    peak_rss_mib: float  # the largest resident set of any one process of the peer
    result: dict[str, Any]  # {"pq", "sq", "rq", "per_class": {category id: {"pq", "sq", "rq"}}}
    tree_rss_mib: float = math.nan  # the peak of the resident sets summed over its process tree


def available(peer: str) -> str | None:
    """None if `peer` can run here, else the reason it cannot."""
    modules = {
        "ours": "panoptic_metrics.cli",
        "ours-cold": "panoptic_metrics.cli",
        "ours-boundary": "panoptic_metrics.cli",
        "hotcoco": "hotcoco",
        "vernier": "vernier.panoptic",
        "panopticapi": "panopticapi.evaluation",
        "cityscapes": "cityscapesscripts.evaluation.evalPanopticSemanticLabeling",
        "torchmetrics": "torchmetrics",
    }
    try:
        found = importlib.util.find_spec(modules[peer]) is not None
    except ModuleNotFoundError:
        found = False
    return None if found else f"{modules[peer]} is not importable"


def check_agreement(a: PeerRun, b: PeerRun, tolerance: float = 1e-9) -> None:
    """Raise AssertionError unless PQ, SQ, RQ and every class's PQ, SQ, RQ of two runs agree."""
    for key in ("pq", "sq", "rq"):
        if not math.isclose(a.result[key], b.result[key], abs_tol=tolerance):
            raise AssertionError(
                f"{a.peer} and {b.peer} disagree on {key}: {a.result[key]} != {b.result[key]}"
            )
    if a.result["per_class"].keys() != b.result["per_class"].keys():
        raise AssertionError(f"{a.peer} and {b.peer} evaluate different categories")
    for category, values in a.result["per_class"].items():
        for key in ("pq", "sq", "rq"):
            other = b.result["per_class"][category][key]
            if not math.isclose(values[key], other, abs_tol=tolerance):
                raise AssertionError(
                    f"{a.peer} and {b.peer} disagree on the {key.upper()} of {category}: "
                    f"{values[key]} != {other}"
                )


# A minimal launcher (`python -S`, standard library only) spawns the peer and reports its
# rusage: Linux counts a process's memory before exec in its peak RSS, so spawning the peer
# from the benchmark's own (large) process would report that process's size instead. rusage
# gives the largest single process; the peak of the whole tree (the peer and its workers
# together, shared pages counted in each) is sampled from /proc.
_LAUNCHER = """
import json, os, sys, threading, time
log = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
actions = [(os.POSIX_SPAWN_DUP2, log, 1), (os.POSIX_SPAWN_DUP2, log, 2)]
start = time.perf_counter()
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ, file_actions=actions)
tree_peak, finished = [0], threading.Event()

def sample_tree():
    # every 20 ms: the summed resident pages of pid and its descendants; a pid's parent is read
    # once, when it first appears (a process never joins the tree later)
    tree, others, page = {pid}, set(), os.sysconf("SC_PAGE_SIZE")
    while not finished.is_set():
        live = {int(p) for p in os.listdir("/proc") if p.isdigit()}
        tree &= live  # forget the dead: their pids may be reused
        others &= live
        for p in sorted(live - tree - others):  # parents before their children
            try:
                with open(f"/proc/{p}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
            (tree if ppid in tree else others).add(p)
        resident = 0
        for p in tree:
            try:
                with open(f"/proc/{p}/statm", "rb") as f:
                    resident += int(f.read().split()[1])
            except OSError:
                pass
        tree_peak[0] = max(tree_peak[0], resident * page)
        finished.wait(0.02)

sampler = threading.Thread(target=sample_tree, daemon=True)
sampler.start()
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
finished.set()
sampler.join()
print(json.dumps({"exit": os.waitstatus_to_exitcode(status), "wall_s": wall,
                  "cpu_s": usage.ru_utime + usage.ru_stime, "maxrss_kib": usage.ru_maxrss,
                  "tree_rss_bytes": tree_peak[0]}))
"""


OURS_OPTIONS = {"ours": (), "ours-cold": (), "ours-boundary": ("--boundary",)}


def run_peer(
    peer: str,
    workload: Workload,
    *,
    workers: int,
    limit: int | None = None,
    log: Path | None = None,
    python: Path | None = None,
) -> PeerRun:
    """Run `peer` on (the first `limit` pairs of) `workload` in a child process and measure it;
    ours with `python`'s installed library when given (see the module's docstring)."""
    with tempfile.TemporaryDirectory(prefix=f"peer-{peer}-") as tmp:
        output = Path(tmp) / "result.json"
        env = {**os.environ, "RAYON_NUM_THREADS": str(workers)}
        if peer == "ours-cold":  # an empty kernel cache: the first run after installation
            env["NUMBA_CACHE_DIR"] = str(Path(tmp) / "numba-cache")
        installed = python is not None and peer in OURS_OPTIONS
        if installed:
            assert python is not None
            w = _limited(workload, limit, Path(tmp))
            command = [str(python), "-m", "panoptic_metrics"]
            command += ours_arguments(w, workers, output, OURS_OPTIONS[peer])
            env.pop("PYTHONPATH", None)
        else:
            command = [sys.executable, "-m", "benchmark.peers", peer, str(workload.root)]
            command += ["--workers", str(workers), "--output", str(output)]
            if limit is not None:
                command += ["--limit", str(limit)]
        launcher = [sys.executable, "-S", "-c", _LAUNCHER, str(log or os.devnull), *command]
        done = subprocess.run(launcher, env=env, capture_output=True, text=True, check=True)
        usage = json.loads(done.stdout)
        if usage["exit"] != 0:
            raise RuntimeError(f"peer {peer} failed with exit code {usage['exit']}; see {log}")
        if installed:
            result = {**ours_scores(output), "pairs": _pairs(w)}
        else:
            result = json.loads(output.read_text())
    return PeerRun(
        peer=peer,
        pairs=result.pop("pairs"),
        wall_s=usage["wall_s"],
        cpu_s=usage["cpu_s"],
        peak_rss_mib=usage["maxrss_kib"] / 1024,  # Linux reports KiB
        result=result,
        tree_rss_mib=usage["tree_rss_bytes"] / 2**20,
    )


# --- inside the child process -----------------------------------------------------------------


def _from_panopticapi(results: dict[str, Any]) -> dict[str, Any]:
    """panopticapi's result shape -> ours (fractions; per_class keyed by the category id)."""
    return {
        "pq": results["All"]["pq"],
        "sq": results["All"]["sq"],
        "rq": results["All"]["rq"],
        "per_class": {
            str(k): {"pq": v["pq"], "sq": v["sq"], "rq": v["rq"]}
            for k, v in results["per_class"].items()
        },
    }


def _sized_pool(module: Any, workers: int) -> None:
    """panopticapi and cityscapesscripts size their pool by cpu_count(): use `workers`."""
    module.multiprocessing.cpu_count = lambda: workers


def ours_arguments(w: Workload, workers: int, output: Path, extra: tuple[str, ...]) -> list[str]:
    """`panoptic-metrics evaluate`'s arguments for workload `w`, its results JSON to `output`."""
    args = ["evaluate", "--gt-json", str(w.gt_json), "--gt-folder", str(w.gt_folder)]
    args += ["--pred-json", str(w.pred_json), "--pred-folder", str(w.pred_folder)]
    return [*args, "--workers", str(workers), "--output", str(output), "--no-progress", *extra]


def ours_scores(output: Path) -> dict[str, Any]:
    """The scores of ours' results JSON, in the normalised shape of the peers'."""
    results = json.loads(output.read_text())
    keys = ("pq", "sq", "rq")
    per_class = {k: {m: v[m] for m in keys} for k, v in results["per_class"].items()}
    scores: dict[str, Any] = {**{m: results[m] for m in keys}, "per_class": per_class}
    if "boundary" in results:
        scores["boundary_pq"] = results["boundary"]["boundary_pq"]
    return scores


def _ours(w: Workload, workers: int, out: Path, *extra: str) -> dict[str, Any]:
    from panoptic_metrics import cli

    json_out = out.with_name("ours.json")
    with contextlib.redirect_stdout(sys.stderr):
        status = cli.main(ours_arguments(w, workers, json_out, extra))
    if status != 0:
        raise SystemExit(f"panoptic-metrics evaluate failed with status {status}")
    return ours_scores(json_out)


def _ours_boundary(w: Workload, workers: int, out: Path) -> dict[str, Any]:
    """Ours with Boundary PQ (`--boundary`, the default dilation ratio 0.02)."""
    return _ours(w, workers, out, "--boundary")


def _hotcoco(w: Workload, workers: int, out: Path) -> dict[str, Any]:
    from hotcoco.panoptic import pq_compute

    return _from_panopticapi(pq_compute(w.gt_json, w.pred_json, w.gt_folder, w.pred_folder))


def _vernier(w: Workload, workers: int, out: Path) -> dict[str, Any]:
    """vernier's streaming evaluator in strict (panopticapi-exact) mode: each image's PNG bytes
    and segments_info go in as read, decoded and counted by its pool of `workers` threads."""
    import vernier.panoptic as vp

    gt, pred = json.loads(w.gt_json.read_text()), json.loads(w.pred_json.read_text())
    by_id = {a["image_id"]: a for a in pred["annotations"]}
    categories = json.dumps(gt["categories"]).encode()
    evaluator = vp.Evaluator(parity_mode="strict").background(categories, num_threads=workers)
    with evaluator:
        for g in gt["annotations"]:
            p = by_id[g["image_id"]]
            evaluator.submit_png(
                g["image_id"],  # an integer: vernier's streaming API takes no string ids
                (w.gt_folder / g["file_name"]).read_bytes(),
                json.dumps(g["segments_info"]).encode(),
                (w.pred_folder / p["file_name"]).read_bytes(),
                json.dumps(p["segments_info"]).encode(),
            )
        summary = evaluator.finalize()
    per_class = {
        str(k): {"pq": v.pq, "sq": v.sq, "rq": v.rq} for k, v in summary.per_class().items()
    }
    return {"pq": summary.pq, "sq": summary.sq, "rq": summary.rq, "per_class": per_class}


def _panopticapi(w: Workload, workers: int, out: Path) -> dict[str, Any]:
    from panopticapi import evaluation

    _sized_pool(evaluation, workers)
    results = evaluation.pq_compute(
        str(w.gt_json), str(w.pred_json), str(w.gt_folder), str(w.pred_folder)
    )
    return _from_panopticapi(results)


def _cityscapes(w: Workload, workers: int, out: Path) -> dict[str, Any]:
    from cityscapesscripts.evaluation import evalPanopticSemanticLabeling as evaluation

    _sized_pool(evaluation, workers)
    results = evaluation.evaluatePanoptic(
        str(w.gt_json), str(w.gt_folder), str(w.pred_json), str(w.pred_folder), str(out) + ".cs"
    )
    return _from_panopticapi(results)


def _torchmetrics(w: Workload, workers: int, out: Path) -> dict[str, Any]:
    """torchmetrics' PanopticQuality on (category, instance) maps; crowd is unknown to it."""
    from .torchmetrics_peer import evaluate

    return evaluate(w)


RUNNERS: dict[str, Callable[[Workload, int, Path], dict[str, Any]]] = {
    "ours": _ours,
    "ours-cold": _ours,
    "ours-boundary": _ours_boundary,
    "hotcoco": _hotcoco,
    "vernier": _vernier,
    "panopticapi": _panopticapi,
    "cityscapes": _cityscapes,
    "torchmetrics": _torchmetrics,
}


def _limited(workload: Workload, limit: int | None, tmp: Path) -> Workload:
    """The workload restricted to its first `limit` pairs (new JSON files, same PNG folders)."""
    if limit is None:
        return workload
    root = tmp / "limited"
    root.mkdir()
    for name in ("gt", "pred"):
        data = json.loads((workload.root / f"{name}.json").read_text())
        data["annotations"] = data["annotations"][:limit]
        data["images"] = data["images"][:limit]
        (root / f"{name}.json").write_text(json.dumps(data))
        (root / name).symlink_to((workload.root / name).resolve())
    return Workload(root, workload.spec)


def _pairs(workload: Workload) -> int:
    return len(json.loads(workload.gt_json.read_text())["annotations"])


def main(argv: list[str] | None = None) -> int:
    """The child's entry point: evaluate, then write the normalised result as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmark.peers")
    parser.add_argument("peer", choices=PEERS)
    parser.add_argument("workload", type=Path, help="a folder made by benchmark.speed_workload")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N pairs only")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workload = _limited(Workload.load(args.workload), args.limit, Path(tmp))
        result = RUNNERS[args.peer](workload, args.workers, args.output)
        pairs = _pairs(workload)
    args.output.write_text(json.dumps({**result, "pairs": pairs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
