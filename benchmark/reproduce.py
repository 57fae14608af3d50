"""The paper's experiments on a real dataset: every named run through torchrun, then the report.

    nox -s reproduce -- --dataset cityscapes --data-root PATH --gpus 8
    python -m benchmark.reproduce --dataset cityscapes --data-root PATH --gpus 4 --print-only

The paper trains with 8 images per batch, one per GPU (§5). With G GPUs (and k images per GPU)
the batch is G·k and the schedule follows the linear scaling rule (Goyal et al., 2017): lr
0.01·G·k/8, iterations, milestones and warm-up ·8/(G·k), so every run sees the paper's number
of images (`TrainingConfig.with_batch_size`). The dataset is checked first: a missing or
malformed folder stops here with a message naming what is missing and how to prepare it.
Arguments after `--` go to every `python -m benchmark.runs` (e.g. `--set data.workers=8`).
Runs resume where they stopped; finished runs are not run again.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import subprocess
import sys
from pathlib import Path

from reference_model.data import DatasetError, open_split

from .runs import RUNS, dataset_setting, parse_args

log = logging.getLogger("reproduce")

REAL_DATASETS = ("cityscapes", "vistas", "idd", "coco")


def check_dataset(dataset: str, root: str) -> list[str]:
    """Open the train and val splits (every JSON, PNG folder and image is looked for); the
    problems found, each naming what is missing and how to prepare it (empty: usable)."""
    data, _ = dataset_setting(dataset, root)
    problems = []
    for split in (data.train_split, data.val_split):
        try:
            open_split(data, split)
        except DatasetError as err:
            problems.append(str(err))
    return problems


def run_command(
    run: str,
    *,
    dataset: str,
    data_root: str,
    output: str,
    gpus: int,
    images_per_gpu: int,
    device: str | None,
    extra: list[str],
) -> list[str]:
    """The torchrun command line of one named run (G processes, one per GPU)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += [f"--nproc-per-node={gpus}", "-m", "benchmark.runs", run]
    command += ["--dataset", dataset, "--data-root", data_root, "--output", output]
    command += ["--batch-size", str(gpus * images_per_gpu), "--resume"]
    if device is not None:
        command += ["--device", device]
    return command + extra


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmark.reproduce",
        description="Run the paper's schedule for every named run through torchrun.",
        epilog="Arguments after -- are passed to each `python -m benchmark.runs`.",
    )
    p.add_argument("--dataset", required=True, choices=REAL_DATASETS)
    p.add_argument("--data-root", required=True, help="the dataset folder")
    p.add_argument("--gpus", type=int, required=True, help="processes (GPUs) per run")
    p.add_argument("--images-per-gpu", type=int, default=1, help="default 1, as the paper")
    p.add_argument("--runs", nargs="+", choices=sorted(RUNS), default=list(RUNS))
    p.add_argument("--output", help="folder of the run directories (default runs/<dataset>)")
    p.add_argument("--device", choices=("cuda", "cpu"), help="default: CUDA when available")
    p.add_argument("--print-only", action="store_true", help="print the commands, run nothing")
    return p


def settings_problems(args: argparse.Namespace, extra: list[str]) -> list[str]:
    """What stops the reproduction before it starts: bad counts, an unusable dataset (each
    message says what is missing and how to prepare it), a run's bad settings."""
    if args.gpus < 1 or args.images_per_gpu < 1:
        return ["--gpus and --images-per-gpu must be >= 1"]
    problems = [
        f"the {args.dataset} dataset at {args.data_root} is not usable: {problem}"
        for problem in check_dataset(args.dataset, args.data_root)
    ]
    for run in args.runs:
        try:
            parse_args([run, "--dataset", args.dataset, "--data-root", args.data_root, *extra])
        except (KeyError, TypeError, ValueError) as err:
            problems.append(f"run {run}: {err}")
    return problems


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args, extra = _parser().parse_args(argv[:split]), argv[split + 1 :]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    problems = settings_problems(args, extra)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 2
    output = args.output or f"runs/{args.dataset}"
    for run in args.runs:
        command = run_command(
            run,
            dataset=args.dataset,
            data_root=args.data_root,
            output=output,
            gpus=args.gpus,
            images_per_gpu=args.images_per_gpu,
            device=args.device,
            extra=extra,
        )
        print(shlex.join(command))
        if args.print_only:
            continue
        done = subprocess.run(command, check=False)
        if done.returncode:
            print(f"error: run {run} failed (exit status {done.returncode})", file=sys.stderr)
            return done.returncode
    if args.print_only:
        return 0
    from reports import build_report  # imported late: matplotlib and pandas

    print(f"report: {build_report([Path(output) / run for run in args.runs])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
