"""The main job (`nox -s demo`): the paper's experiment in miniature, on the CPU.

Stages, each skipped when its output is already there and up to date:
1. data: the embedded synthetic street-scene dataset (train and val splits);
2. summary: per-class pixel and segment counts of the data (what the models learn from);
3. runs: `independent` and `combined` (tiny-synthetic preset, the synthetic schedule of
   `benchmark.runs`) trained, evaluated and costed, concurrently, one `python -m
   benchmark.runs` process each (one thread each: on 2 cores that is ~1.8x faster than one
   run after the other with 2 threads); queued behind them, the count of our network in the
   paper's configuration (`demo_cost`: paper-cityscapes at 1024x2048, kept in the output
   folder and reused), which starts on the core the first run to end leaves free;
4. report: `reports.build_report` over the two runs and that cost file; its path is printed.

One progress bar covers the whole demo; its unit is an estimated second of this machine's
kind (2 CPU cores), so its rate and the time left adapt to a slower or faster machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from panoptic_metrics.io import write_json_atomic
from PIL import Image

from reference_model.config import to_dict
from reference_model.presets import PRESETS
from reference_model.synthetic import CLASSES, generate

from .demo_cost import plan_cost
from .demo_jobs import DemoProgress, Job, RunJob, run_jobs, schedule_seconds
from .runs import build_config

log = logging.getLogger("demo")

RUNS = ("independent", "combined")
# Seconds per unit on a 2-core machine with both runs training at once (one thread each),
# measured with the default settings: a training iteration, an evaluated image, a generated
# image, and the fixed costs (start-up and cost.json of a run; the report). Measured on the
# faster of the 2-core machines seen; only their ratios matter for the time left, which the
# bar takes from the rate it sees: on a machine 2.1x slower, its time left was within 20% of
# the true one from the first minute to the last two (then, as the runs end, off by up to 2x).
SECONDS_PER_ITERATION = {"independent": 0.50, "combined": 0.41}
SECONDS_PER_EVAL_IMAGE = {"independent": 0.15, "combined": 0.13}
SECONDS_PER_DATA_IMAGE = 0.03
SECONDS_RUN_OVERHEAD = 10.0
SECONDS_REPORT = 20.0


def _size(text: str) -> tuple[int, int]:
    """HEIGHTxWIDTH, each at least 64 (the network's largest stride)."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH, got {text!r}") from None
    if min(height, width) < 64:
        raise argparse.ArgumentTypeError(f"height and width must be at least 64, got {text!r}")
    return height, width


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmark.demo", description=__doc__.split("\n")[0])
    p.add_argument("--data", default="data/synthetic", help="synthetic dataset folder")
    p.add_argument("--output", default="runs/demo", help="folder for the demo's results")
    p.add_argument("--train-images", type=int, default=200)
    p.add_argument("--val-images", type=int, default=50)
    p.add_argument("--height", type=int, default=192)
    p.add_argument("--width", type=int, default=384)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iterations", type=int, help="training iterations (default: the schedule's)")
    p.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--cost-preset",
        default="paper-cityscapes",
        choices=sorted(PRESETS),
        help="the model preset counted for the report's cost section (default %(default)s)",
    )
    p.add_argument(
        "--cost-size",
        type=_size,
        default=(1024, 2048),
        metavar="HxW",
        help="the image size of that count (default 1024x2048, the paper's)",
    )
    p.add_argument("--no-cost", action="store_true", help="no count beyond the runs' own cost.json")
    return p


def stage_data(args: argparse.Namespace) -> tuple[Path, bool]:
    """Generate the dataset unless the same one (same manifest) is already there; returns
    the folder and whether it was (re)generated."""
    root = Path(args.data)
    wanted = {
        "seed": args.seed,
        "height": args.height,
        "width": args.width,
        "splits": {"train": args.train_images, "val": args.val_images},
    }
    manifest = root / "synthetic.json"
    if manifest.exists():
        have = json.loads(manifest.read_text())
        if all(have.get(k) == v for k, v in wanted.items()):
            log.info("data: %s is up to date", root)
            return root, False
    generate(
        root,
        wanted["splits"],
        height=args.height,
        width=args.width,
        seed=args.seed,
        workers=args.workers,
        progress=False,
    )
    return root, True


def stage_summary(root: Path, output: Path) -> dict[str, Any]:
    """Per split and class: pixels and segments (crowd counted apart), from the panoptic GT."""
    summary: dict[str, Any] = {}
    for split in ("train", "val"):
        data = json.loads((root / "gtFine" / f"cityscapes_panoptic_{split}.json").read_text())
        per_class = {c.name: {"pixels": 0, "segments": 0, "crowd": 0} for c in CLASSES}
        names = {c.label_id: c.name for c in CLASSES}
        void = 0
        for ann in data["annotations"]:
            png = root / "gtFine" / f"cityscapes_panoptic_{split}" / ann["file_name"]
            rgb = np.asarray(Image.open(png), dtype=np.uint32)
            void += int(np.count_nonzero((rgb == 0).all(axis=-1)))
            for seg in ann["segments_info"]:
                entry = per_class[names[seg["category_id"]]]
                entry["pixels"] += seg["area"]
                entry["crowd" if seg["iscrowd"] else "segments"] += 1
        summary[split] = {"images": len(data["images"]), "void_pixels": void, "classes": per_class}
    write_json_atomic(summary, output / "dataset_summary.json")
    return summary


def plan_runs(args: argparse.Namespace, output: Path) -> list[RunJob]:
    """The two runs: their configuration, command line and time estimates."""
    jobs = []
    for name in RUNS:
        config = build_config(
            name, dataset="synthetic", data_root=args.data, iterations=args.iterations
        )
        command = [sys.executable, "-m", "benchmark.runs", name]
        command += ["--dataset", "synthetic", "--data-root", args.data, "--output", str(output)]
        command += ["--resume", "--no-progress"]
        if args.iterations is not None:
            command += ["--iterations", str(args.iterations)]
        iterations = config.training.iterations
        jobs.append(
            RunJob(
                name=name,
                run_dir=output / name,
                config=json.loads(json.dumps(to_dict(config))),
                command=command,
                iterations=iterations,
                val_images=args.val_images,
                train_seconds=iterations * SECONDS_PER_ITERATION[name],
                eval_seconds=args.val_images * SECONDS_PER_EVAL_IMAGE[name],
                fixed_seconds=SECONDS_RUN_OVERHEAD,
            )
        )
    return jobs


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    parallel = min(len(RUNS), len(os.sched_getaffinity(0)))
    runs = plan_runs(args, output)
    jobs: list[Job] = list(runs)
    cost_files: tuple[Path, ...] = ()
    if not args.no_cost:
        path, cost_job = plan_cost(output, args.cost_preset, *args.cost_size)
        cost_files = (path,)
        jobs += [cost_job] if cost_job else []
    stages = {
        "data": (args.train_images + args.val_images) * SECONDS_PER_DATA_IMAGE,
        "runs": schedule_seconds([j.estimate for j in jobs], parallel),
        "report": SECONDS_REPORT,
    }
    with DemoProgress(stages, enabled=not args.no_progress) as progress:
        progress.start("data")
        root, fresh = stage_data(args)
        summary = stage_summary(root, output)
        progress.start("runs")
        for run in runs:
            run.clear_if_stale(fresh_data=fresh)
        if not run_jobs(jobs, output / "logs", progress, parallel=parallel):
            return 1
        progress.start("report")
        from reports import ReportOptions, build_report  # matplotlib and pandas: only now

        options = ReportOptions(cost_files=cost_files)
        report = build_report([r.run_dir for r in runs], output=output / "report", options=options)
        progress.finish()
    for split, info in summary.items():
        missing = [n for n, c in info["classes"].items() if c["pixels"] == 0]
        log.info("%s: %d images, classes missing: %s", split, info["images"], missing or "none")
    for run in runs:
        metrics = json.loads((run.run_dir / "metrics.json").read_text())
        print(f"{run.name}: PQ {metrics['pq']:.3f}, PQ† {metrics['pq_dagger']:.3f} ({run.run_dir})")
    wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu_start
    print(f"demo finished in {wall:.0f} s wall, {cpu:.0f} CPU s; report: {report}")
    return 0


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


if __name__ == "__main__":
    sys.exit(main())
