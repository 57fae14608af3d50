"""Peak memory of whole evaluations against the number of images: ours beside the peers.

`python -m benchmark.memory [--sizes 500,5000] [--peers ours,hotcoco,vernier]` evaluates the
first N pairs of the COCO-like workload (`speed_workload.COCO`, 480x640, ~20 segments) for each
size N, every peer in a fresh process (`peers.run_peer`), sizes and peers alternating in each
round, and prints the peak resident set of each peer's whole process tree (the peer and its
worker processes summed, sampled from /proc every 20 ms) with its growth from the smallest
size to the largest. The target (issue 14): ours within 10% from 500 to 5000 images.

Each size is its own workload folder (the first N annotations of the JSON files, the PNG
folders linked), written before any peer runs: cutting the JSON inside the measured process
(`peers --limit`) would count the full file's parse in every size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from dataclasses import replace
from pathlib import Path

from .installed import installed_python
from .peers import PeerRun, available, run_peer
from .speed_workload import COCO, Workload, make_workload


def first_pairs(workload: Workload, n: int, root: Path) -> Workload:
    """`workload` cut to its first `n` pairs, written under `root` (reused when there)."""
    folder = root / f"{workload.root.name}-first{n}"
    if not (folder / "workload.json").exists():
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("gt", "pred"):
            data = json.loads((workload.root / f"{name}.json").read_text())
            data["annotations"] = data["annotations"][:n]
            data["images"] = data["images"][:n]
            (folder / f"{name}.json").write_text(json.dumps(data))
            link = folder / name
            if not link.exists():
                link.symlink_to((workload.root / name).resolve())
        manifest = json.loads((workload.root / "workload.json").read_text())
        (folder / "workload.json").write_text(json.dumps({**manifest, "pairs": n}))
    return Workload(folder, replace(workload.spec, pairs=n))


def measure(
    workloads: dict[int, Workload],
    peers: list[str],
    *,
    workers: int,
    rounds: int,
    log: Path,
    python: Path | None = None,
) -> dict[str, dict[int, list[PeerRun]]]:
    """Every peer at every size, `rounds` times, alternating (peer within size within round),
    after one untimed warm-up run of each peer on the smallest size; ours with `python`'s
    installed library when given (`peers.run_peer`)."""
    runs: dict[str, dict[int, list[PeerRun]]] = {p: {n: [] for n in workloads} for p in peers}
    smallest = workloads[min(workloads)]
    for peer in peers:  # untimed: numba's cache written, files in the page cache
        run_peer(peer, smallest, workers=workers, log=log, python=python)
    for _ in range(rounds):
        for n, workload in workloads.items():
            for peer in peers:
                run = run_peer(peer, workload, workers=workers, log=log, python=python)
                runs[peer][n].append(run)
                print(
                    f"  {peer:8s} {n:6d} images: tree {run.tree_rss_mib:6.0f} MiB, "
                    f"largest process {run.peak_rss_mib:6.0f} MiB, {run.wall_s:5.1f} s",
                    flush=True,
                )
    return runs


def table(runs: dict[str, dict[int, list[PeerRun]]]) -> str:
    """Median peak tree RSS per peer and size, and the growth from the smallest to the largest."""
    sizes = sorted(next(iter(runs.values())))
    head = "| evaluator | " + " | ".join(f"tree RSS, {n} images (MiB)" for n in sizes)
    head += f" | growth {sizes[0]} -> {sizes[-1]} | largest process, {sizes[-1]} images (MiB) |"
    lines = [head, "|" + "---|" * (len(sizes) + 3)]
    for peer, by_size in runs.items():
        tree = {n: statistics.median(r.tree_rss_mib for r in by_size[n]) for n in sizes}
        largest = statistics.median(r.peak_rss_mib for r in by_size[sizes[-1]])
        cells = " | ".join(f"{tree[n]:.0f}" for n in sizes)
        growth = tree[sizes[-1]] / tree[sizes[0]]
        lines.append(f"| {peer} | {cells} | {growth:.2f}x | {largest:.0f} |")
    return "\n".join(lines)


def timeline(
    workload: Workload, workers: int, every_s: float = 0.25, python: Path | None = None
) -> str:
    """Ours (`panoptic-metrics evaluate`) on `workload`: the resident set of its main process
    and of each worker over time, and where the tree peaked (one line per second)."""
    import subprocess
    import sys
    import time

    def rss_mib(pid: int) -> float:
        try:
            with open(f"/proc/{pid}/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except OSError:
            return 0.0

    def children(pid: int) -> list[int]:
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                return [int(c) for c in f.read().split()]
        except OSError:
            return []

    env = dict(os.environ)
    if python is not None:  # the installed library, not the checkout's
        env.pop("PYTHONPATH", None)
    command = [str(python or sys.executable), "-m", "panoptic_metrics", "evaluate", "--no-progress"]
    command += ["--gt-json", str(workload.gt_json), "--gt-folder", str(workload.gt_folder)]
    command += ["--pred-json", str(workload.pred_json), "--pred-folder", str(workload.pred_folder)]
    command += ["--workers", str(workers), "--output", os.devnull]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, env=env)
    start, lines, peak, shown = time.perf_counter(), [], (0.0, ""), -1.0
    while child.poll() is None:
        t = time.perf_counter() - start
        main_mib, worker_mib = rss_mib(child.pid), [rss_mib(c) for c in children(child.pid)]
        line = f"{t:6.2f} s: main {main_mib:4.0f} MiB, workers {[round(w) for w in worker_mib]}"
        peak = max(peak, (main_mib + sum(worker_mib), line))
        if t - shown >= 1:
            lines.append(line)
            shown = t
        time.sleep(every_s)
    lines.append(f"tree peak {peak[0]:.0f} MiB at {peak[1]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.memory", description=__doc__)
    parser.add_argument("--sizes", default="500,5000", help="comma-separated image counts")
    parser.add_argument("--peers", default="ours,hotcoco,vernier")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--timeline", action="store_true", help="also print ours' RSS over time at each size"
    )
    root = Path(__file__).resolve().parents[1] / "data" / "benchmark"
    parser.add_argument("--cache", type=Path, default=root, help="where the workload is cached")
    parser.add_argument(
        "--installed",
        action="store_true",
        help="ours from a fresh venv with `pip install ./metrics` (benchmark/installed.py)",
    )
    args = parser.parse_args(argv)
    python = installed_python(args.cache / "installed-venv") if args.installed else None
    sizes = sorted(int(n) for n in args.sizes.split(","))
    peers = [p for p in args.peers.split(",") if available(p) is None]
    full = make_workload(args.cache, replace(COCO, pairs=sizes[-1]), workers=2, progress=True)
    workloads = {n: full if n == sizes[-1] else first_pairs(full, n, args.cache) for n in sizes}
    print(f"load average before: {os.getloadavg()}", flush=True)
    runs = measure(
        workloads,
        peers,
        workers=args.workers,
        rounds=args.rounds,
        log=args.cache / "memory.log",
        python=python,
    )
    print(f"load average after: {os.getloadavg()}")
    print(table(runs))
    for n, workload in workloads.items() if args.timeline else ():
        lines = timeline(workload, args.workers, python=python)
        print(f"\nours, {n} images, RSS over time:\n{lines}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
