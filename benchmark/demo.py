"""The main job (`nox -s demo`): the paper's experiment in miniature, on the CPU.

The synthetic dataset (kept while its manifest matches) and its per-class counts
(`dataset_summary.json`); then child processes (`run_jobs`, one progress bar over the steps
they write anyway): the runs `independent` and `combined` (`python -m benchmark.runs`) side by
side, and queued behind them the count of our network in the paper's configuration
(`benchmark.compute_cost`, reused while the model's counts match it); last, the report.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from panoptic_metrics.io import read_json, write_json_atomic
from panoptic_metrics.readers.coco import parse_coco_panoptic
from panoptic_metrics.run import RunResults
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from reference_model.config import to_dict
from reference_model.presets import PRESETS, preset
from reference_model.synthetic import CLASSES, generate

from .compute_cost import FORMS, measure
from .runs import build_config, seed_runs

log = logging.getLogger("demo")

ROOT = Path(__file__).resolve().parents[1]  # the checkout: benchmark/ and reference_model/
RUNS = ("independent", "combined")
BAR = "{desc}: {percentage:3.0f}%|{bar}| {elapsed}{postfix}"  # the time left is in the postfix
# the count's large buffers stay in malloc's heap: fresh pages for each slowed the run beside it
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(2**32), "MALLOC_TRIM_THRESHOLD_": str(2**33)}
# The figures a kept count must hold for each form, equal to a fresh count on the meta device.
CHECKED = ("params", "dense_conv_macs", "roi_macs_per_detection")


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
    p.add_argument("--seeds", type=int, default=1, help="seeds per run (default 1)")
    p.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    what = "the model preset counted for the report's cost section (default %(default)s)"
    p.add_argument("--cost-preset", default="paper-cityscapes", choices=sorted(PRESETS), help=what)
    what = "the image size of that count (default 1024x2048, the paper's)"
    p.add_argument("--cost-size", type=_size, default=(1024, 2048), metavar="HxW", help=what)
    p.add_argument("--no-cost", action="store_true", help="no count beyond the runs' own cost.json")
    return p


def stage_data(args: argparse.Namespace) -> bool:
    """Generate the dataset unless the same one (same manifest) is there; True if it was."""
    splits = {"train": args.train_images, "val": args.val_images}
    wanted = {"seed": args.seed, "height": args.height, "width": args.width, "splits": splits}
    manifest = Path(args.data) / "synthetic.json"
    have = json.loads(manifest.read_text()) if manifest.exists() else {}
    if all(have.get(k) == v for k, v in wanted.items()):
        log.info("data: %s is up to date", args.data)
        return False
    size = {"height": args.height, "width": args.width}
    generate(args.data, splits, **size, seed=args.seed, workers=args.workers, progress=False)
    return True


def stage_summary(root: Path, output: Path) -> dict[str, Any]:
    """Per split and class: pixels (the JSON's areas) and segments (crowd counted apart), and
    void pixels, from the panoptic GT as panoptic_metrics reads it (its checks and messages)."""
    summary: dict[str, Any] = {}
    names = {c.label_id: c.name for c in CLASSES}
    for split in ("train", "val"):
        folder = root / "gtFine" / f"cityscapes_panoptic_{split}"
        data = read_json(folder.with_suffix(".json"))
        per_class = {c.name: {"pixels": 0, "segments": 0, "crowd": 0} for c in CLASSES}
        void = 0
        for image in parse_coco_panoptic(data, folder.with_suffix(".json"), folder).images.values():
            void += int((image.load().ids == 0).sum())
            s = image.segments
            for cid, crowd, area in zip(s.category_ids, s.iscrowd, s.areas, strict=True):
                entry = per_class[names[int(cid)]]
                entry["pixels"] += int(area)
                entry["crowd" if crowd else "segments"] += 1
        summary[split] = {"images": len(data["images"]), "void_pixels": void, "classes": per_class}
    write_json_atomic(summary, output / "dataset_summary.json")
    return summary


def run_job(args: argparse.Namespace, output: Path, name: str, *, fresh_data: bool) -> Job:
    """`python -m benchmark.runs NAME`, its folder removed first if made for other data or
    settings; its steps: training iterations, then evaluated images."""
    built = build_config(name, dataset="synthetic", data_root=args.data, iterations=args.iterations)
    dirs = []
    for seeded, run_dir in seed_runs(built, output, args.seeds):
        config = json.loads(json.dumps(to_dict(seeded)))  # as config.json holds it
        saved = run_dir / "config.json"
        if saved.exists() and (fresh_data or json.loads(saved.read_text()) != config):
            log.info("runs: %s was made with other data or settings: starting again", run_dir)
            shutil.rmtree(run_dir)
        dirs.append(run_dir)
    command = [sys.executable, "-m", "benchmark.runs", name, "--dataset", "synthetic"]
    command += ["--data-root", args.data, "--output", str(output), "--resume", "--no-progress"]
    command += [] if args.iterations is None else ["--iterations", str(args.iterations)]
    command += [] if args.seeds == 1 else ["--seeds", str(args.seeds)]
    steps = (built.training.iterations + args.val_images) * len(dirs)
    return Job(name, command, steps, partial(_run_steps, *dirs))


def _run_steps(*run_dirs: Path) -> int:
    steps = 0
    for run_dir in run_dirs:
        iteration, log_lines = 0, run_dir / "log.jsonl"
        lines = log_lines.read_text(encoding="utf-8").splitlines() if log_lines.exists() else []
        for line in lines:
            with suppress(ValueError, KeyError, TypeError):  # a line being written
                iteration = int(json.loads(line)["iteration"])
        steps += iteration + len(list((run_dir / "predictions" / "panoptic").glob("*.png")))
    return steps


def stale(path: Path, fresh: dict[str, Any], setting: tuple[str, int, int]) -> str:
    """Why the count at `path` cannot be reused for `setting` (preset, height, width); "" when
    it can. `fresh`: `measure` of both forms on the meta device, without fvcore."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if (kept := (data["preset"], data["height"], data["width"])) != setting:
            return f"counted for {kept}, not {setting}"
        for form in FORMS:
            if not isinstance(data[form]["fvcore_flops"], int):
                return f"no full count of {form} (fvcore_flops)"
            for key in CHECKED:
                if data[form][key] != fresh[form][key]:
                    return f"{form} {key} is {data[form][key]}, now {fresh[form][key]}"
    except FileNotFoundError:
        return "not counted yet"
    except (OSError, ValueError, LookupError, TypeError) as err:
        return f"unreadable ({err!r})"
    return ""


def plan_cost(output: Path, preset_name: str, height: int, width: int) -> tuple[Path, Job | None]:
    """The count the report shows, and the job that makes it (None when the one kept is
    current); not required: if it fails, the report says the file is missing."""
    path = output / f"cost-{preset_name}-{height}x{width}.json"
    size = {"height": height, "width": width}
    fresh = measure(preset(preset_name), forms=FORMS, **size, fvcore=False, progress=False)
    problem = stale(path, fresh, (preset_name, height, width))
    if not problem:
        log.info("cost: %s is up to date", path)
        return path, None
    log.info("cost: counting %s (%s)", path, problem)
    command = [sys.executable, "-m", "benchmark.compute_cost", "--preset", preset_name]
    command += ["--height", str(height), "--width", str(width), "--output", str(path)]
    return path, Job(path.stem, command, required=False, env=MALLOC_ENV)


@dataclass
class Job:
    """A child process, run with `--threads N` appended; `read()`: its steps done so far (a
    job that writes nothing on the way is done at its end). The rest is the queue's record:
    steps done, `seconds` since it started (None while it waits), `first`: (steps done,
    seconds) when it first showed progress, so that its rate leaves out its start-up."""

    name: str
    command: list[str]
    steps: int = 1
    read: Callable[[], int] = lambda: 0
    required: bool = True  # does the demo fail when this job fails?
    env: dict[str, str] = field(default_factory=dict)
    done: int = 0
    seconds: float | None = None
    first: tuple[int, float] | None = None
    ended: bool = False

    def per_step(self) -> float | None:
        if self.first is None or self.seconds is None or self.done <= self.first[0]:
            return None
        return (self.seconds - self.first[1]) / (self.done - self.first[0])


def time_left(jobs: Sequence[Job], parallel: int) -> float | None:
    """Seconds until the last job ends: each job's steps left at the seconds per step it has
    shown (one yet to show them: the mean of the others'), queued as `run_jobs` runs them;
    None until some job has shown a rate."""
    rates = [r for r in (j.per_step() for j in jobs) if r is not None]
    slots = [0.0] * max(1, parallel)
    # the running jobs hold their slots; the waiting ones follow, in order, on the first free
    for job in sorted((j for j in jobs if not j.ended), key=lambda j: j.seconds is None):
        rate = job.per_step() or sum(rates) / max(1, len(rates))
        slots[slots.index(min(slots))] += (job.steps - job.done) * rate
    return max(slots) if rates else None


def show(bar: Any, jobs: Sequence[Job], parallel: int) -> None:
    """The bar at the steps done, with the time left and the running jobs' steps."""
    left = time_left(jobs, parallel)
    bar.n = sum(j.steps if j.ended else j.done for j in jobs)
    running = [j for j in jobs if j.seconds is not None and not j.ended]
    notes = ", ".join(j.name + (f" {j.done}/{j.steps}" if j.steps > 1 else "") for j in running)
    bar.set_postfix_str(f"{'?' if left is None else tqdm.format_interval(left)} left; {notes}")


def run_jobs(jobs: Sequence[Job], logs: Path, bar: Any, *, parallel: int, poll: float = 1) -> bool:
    """Run the jobs in order, `parallel` at a time, each with the cores shared out among the
    jobs that can run at once when it starts; returns True unless a required job failed (a
    failure prints the end of its console; another job's failure is only reported)."""
    cores = len(os.sched_getaffinity(0))
    logs.mkdir(parents=True, exist_ok=True)
    pending, running = list(jobs), list[tuple[Job, subprocess.Popen[bytes], float]]()
    try:
        while pending or running:
            while pending and len(running) < parallel:
                job = pending.pop(0)
                threads = max(1, cores // min(parallel, len(running) + 1 + len(pending)))
                job.done = min(job.read(), job.steps)
                running.append((job, _start(job, threads, logs), time.perf_counter()))
            time.sleep(poll)
            for job, process, start in list(running):
                done, job.seconds = min(job.read(), job.steps), time.perf_counter() - start
                if job.first is None and done > job.done:
                    job.first = (done, job.seconds)
                job.done = done
                if process.poll() is None:
                    continue
                running.remove((job, process, start))
                job.ended = True
                if process.returncode:
                    console = logs / f"{job.name}.log"
                    what = f"{'error' if job.required else 'warning'}: {job.name} failed"
                    tail = console.read_text(errors="replace").splitlines()[-20:]
                    ends = f"{what} (exit status {process.returncode}); {console} ends:"
                    tqdm.write("\n  ".join([ends, *tail]), file=sys.stderr)
                    if job.required:
                        return False
            show(bar, jobs, parallel)
    finally:
        for _, process, _ in running:
            process.terminate()  # our own children only
            process.wait()
    return True


def _start(job: Job, threads: int, logs: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads)) | job.env
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    log.info("starting %s (%d thread(s)): %s", job.name, threads, " ".join(job.command))
    command = [*job.command, "--threads", str(threads)]
    with open(logs / f"{job.name}.log", "w") as console:  # the child keeps its own copy
        return subprocess.Popen(command, stdout=console, stderr=subprocess.STDOUT, env=env)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.seeds < 1:
        print(f"error: --seeds must be >= 1, got {args.seeds}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    start, cpu_start = time.perf_counter(), sum(os.times()[:4])  # with finished children
    bar = tqdm(desc="demo (data)", disable=args.no_progress, bar_format=BAR, dynamic_ncols=True)
    with bar, logging_redirect_tqdm():
        fresh = stage_data(args)
        summary = stage_summary(Path(args.data), output)
        jobs = [run_job(args, output, name, fresh_data=fresh) for name in RUNS]
        cost_path, cost_job = None, None
        if not args.no_cost:
            cost_path, cost_job = plan_cost(output, args.cost_preset, *args.cost_size)
        jobs += [cost_job] if cost_job else []
        bar.reset(total=sum(j.steps for j in jobs))
        bar.set_description_str("demo (runs)")
        parallel = min(len(RUNS), len(os.sched_getaffinity(0)))
        if not run_jobs(jobs, output / "logs", bar, parallel=parallel):
            return 1
        bar.set_description_str("demo (report)", refresh=False)
        from reports import ReportOptions, build_report  # matplotlib and pandas: only now

        options = ReportOptions(cost_files=(cost_path,) if cost_path else ())
        report = build_report([output / n for n in RUNS], output=output / "report", options=options)
        bar.set_postfix_str("", refresh=False)
    for split, info in summary.items():
        missing = [n for n, c in info["classes"].items() if c["pixels"] == 0]
        log.info("%s: %d images, classes missing: %s", split, info["images"], missing or "none")
    for name in RUNS:
        path = output / name / "metrics.json"
        pq = RunResults.from_json(read_json(path), source=str(path)).panoptic
        print(f"{name}: PQ {pq.pq:.3f}, PQ† {pq.pq_dagger:.3f} ({output / name})")
    wall, cpu = time.perf_counter() - start, sum(os.times()[:4]) - cpu_start
    print(f"demo finished in {wall:.0f} s wall, {cpu:.0f} CPU s; report: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
