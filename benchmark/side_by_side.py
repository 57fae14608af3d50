"""Ours at two checkouts (a baseline commit and the working tree) beside peers, in one run.

    git worktree add /tmp/before <commit>
    PYTHONPATH=metrics/src:. python -m benchmark.side_by_side WORKLOAD_DIR \
        --before /tmp/before --rounds 4 --peers hotcoco,vernier

Each entry runs as a whole process through `peers.run_peer` (ours: `panoptic-metrics
evaluate` with the checkout's `metrics/src` first on PYTHONPATH), the entries of a round one
after the other, the order reversed every other round, so that a change in the machine's
load weighs on all of them alike. Prints every run (with the 1-minute load average before
it), then the median wall and CPU time of each entry and their ratios to ours now.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

from .peers import run_peer
from .speed_workload import Workload

HERE = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.side_by_side")
    parser.add_argument("workload", type=Path, help="a folder made by benchmark.speed_workload")
    parser.add_argument("--before", type=Path, required=True, help="the baseline's checkout")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--peers", default="hotcoco,vernier", help="comma-separated peers")
    args = parser.parse_args(argv)
    workload = Workload.load(args.workload)
    checkouts = {"before": args.before.resolve(), "after": HERE}
    entries = [*checkouts, *(p for p in args.peers.split(",") if p)]
    walls: dict[str, list[float]] = {name: [] for name in entries}
    cpus: dict[str, list[float]] = {name: [] for name in entries}
    for r in range(args.rounds):
        for name in entries if r % 2 == 0 else entries[::-1]:
            source = checkouts.get(name, HERE)
            os.environ["PYTHONPATH"] = f"{source / 'metrics' / 'src'}{os.pathsep}{HERE}"
            load = os.getloadavg()[0]
            run = run_peer("ours" if name in checkouts else name, workload, workers=args.workers)
            walls[name].append(run.wall_s)
            cpus[name].append(run.cpu_s)
            print(
                f"round {r} {name:8} wall {run.wall_s:6.2f} s  CPU {run.cpu_s:6.2f} s  "
                f"tree {run.tree_rss_mib:4.0f} MiB  load {load:.2f}  PQ {run.result['pq']:.12f}",
                flush=True,
            )
    ours, ours_cpu = statistics.median(walls["after"]), statistics.median(cpus["after"])
    for name, values in walls.items():
        median, cpu = statistics.median(values), statistics.median(cpus[name])
        print(
            f"{name:8} median wall {median:6.2f} s ({', '.join(f'{v:.2f}' for v in values)}), "
            f"CPU {cpu:6.2f} s; its / ours now: wall {median / ours:.2f}, CPU {cpu / ours_cpu:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
