"""What a first run after installation compiles: the numba kernels of one pair, with their times.

    python -m benchmark.compile_time data/benchmark/speed-4x1024x2048-s0-e22 [--top 15] [--serial]

Runs in a fresh process with an empty kernel cache (`NUMBA_CACHE_DIR` a new temporary folder,
set before numba is imported): reads the workload's COCO-panoptic JSON files and matches its
first pair as `panoptic-metrics evaluate` does before it starts its workers (the matching
kernels compiled meanwhile in a forked process, `evaluate._compile_beside`), then prints the
wall time of that first pair and, from numba's compile events, the seconds spent compiling
each function in this process (inclusive: a kernel's time contains the functions it compiles
for itself, which are listed too, so the column does not add up). `--serial` compiles
everything in this process, as before the compiling beside: every kernel listed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.compile_time", description=__doc__)
    parser.add_argument("workload", type=Path, help="a folder made by benchmark.speed_workload")
    parser.add_argument("--top", type=int, default=15, help="functions listed")
    parser.add_argument("--serial", action="store_true", help="no compiling beside")
    args = parser.parse_args(argv)
    if "numba" in sys.modules:
        raise SystemExit("run in a fresh process: numba is already imported")
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        os.environ["NUMBA_CACHE_DIR"] = cache
        seconds, first_pair = _compile_first_pair(args.workload, serial=args.serial)
    print(f"first pair, every kernel compiled (here or beside): {first_pair:.2f} s")
    print("compile seconds per function (inclusive):")
    for name, s in sorted(seconds.items(), key=lambda item: -item[1])[: args.top]:
        print(f"  {s:6.2f}  {name}")
    return 0


def _compile_first_pair(root: Path, *, serial: bool) -> tuple[dict[str, float], float]:
    from numba.core import event
    from panoptic_metrics import evaluate

    seconds: dict[str, float] = {}
    started: list[float] = []

    class Listener(event.Listener):
        def on_start(self, ev: Any) -> None:
            started.append(time.perf_counter())

        def on_end(self, ev: Any) -> None:
            name = ev.data["dispatcher"].py_func.__qualname__
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started.pop()

    pairs, categories = evaluate.coco_pairs(
        root / "gt.json", root / "gt", root / "pred.json", root / "pred"
    )
    event.register("numba:compile", Listener())  # type: ignore[no-untyped-call]
    start = time.perf_counter()
    settings = evaluate.MatchSettings(categories=categories)
    ready = None if serial else evaluate._compile_beside(settings)
    evaluate._Worker(settings)(pairs[0], ready=ready)
    return seconds, time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
