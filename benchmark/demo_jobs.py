"""The demo's jobs as child processes, and one progress bar over the whole demo.

Each run is a `python -m benchmark.runs` process writing its console to `<output>/logs/`.
Their progress is read from what they write anyway: the last iteration in `log.jsonl` and the
number of PNGs in `predictions/panoptic/`. Other jobs (`demo_cost.CostJob`) follow the same
`Job` protocol. The jobs start in order, `parallel` at a time, each as soon as a slot is free.
The bar's unit is an estimated second, so tqdm's rate and time left hold for the whole demo,
not just the current stage.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol

from tqdm import tqdm

log = logging.getLogger("demo")

ROOT = Path(__file__).resolve().parents[1]  # the checkout: benchmark/ and reference_model/
POLL_SECONDS = 1.0


class Job(Protocol):
    """A child process of the demo: its command line (run with `--threads N` appended), the
    seconds it is expected to take, and what it has done. `running_for`: None while it waits,
    the seconds since it started while it runs, `math.inf` once it has ended."""

    @property
    def name(self) -> str: ...

    @property
    def command(self) -> list[str]: ...

    @property
    def required(self) -> bool: ...  # does the demo fail when this job fails?

    @property
    def estimate(self) -> float: ...

    @property
    def env(self) -> dict[str, str]: ...  # environment variables of its own

    def done_seconds(self, running_for: float | None) -> float: ...

    def note(self, running_for: float | None) -> str: ...


@dataclass(frozen=True)
class RunJob:
    """One named run of the demo: its command line and the seconds it is expected to take
    (training, evaluation and fixed costs: start-up, cost.json)."""

    name: str
    run_dir: Path
    config: dict[str, Any]  # its config.json
    command: list[str]
    iterations: int
    val_images: int
    train_seconds: float
    eval_seconds: float
    fixed_seconds: float

    @property
    def estimate(self) -> float:
        return self.train_seconds + self.eval_seconds + self.fixed_seconds

    @property
    def required(self) -> bool:
        return True

    @property
    def env(self) -> dict[str, str]:
        return {}

    def clear_if_stale(self, *, fresh_data: bool) -> None:
        """Remove the run directory if it was made for other data or with another config."""
        config = self.run_dir / "config.json"
        if config.exists() and (fresh_data or json.loads(config.read_text()) != self.config):
            log.info("runs: %s was made with other data or settings: starting again", self.run_dir)
            shutil.rmtree(self.run_dir)

    def done_seconds(self, running_for: float | None = None) -> float:
        """The estimated seconds of work done so far, from the files the run has written."""
        trained = _last_iteration(self.run_dir / "log.jsonl") / self.iterations
        folder = self.run_dir / "predictions" / "panoptic"
        evaluated = len(list(folder.glob("*.png"))) / self.val_images if folder.is_dir() else 0
        return self.train_seconds * min(trained, 1.0) + self.eval_seconds * min(evaluated, 1.0)

    def note(self, running_for: float | None = None) -> str:
        return f"{self.name} {_last_iteration(self.run_dir / 'log.jsonl')}/{self.iterations}"


def _last_iteration(path: Path) -> int:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return 0
    for line in reversed(lines):
        try:
            return int(json.loads(line)["iteration"])
        except (ValueError, KeyError, TypeError):
            continue  # a line being written
    return 0


class DemoProgress:
    """A tqdm bar over the demo's stages, in estimated seconds; `start(stage)` jumps to the
    stage's beginning, `update_stage(done)` sets the seconds done within it."""

    def __init__(self, stages: dict[str, float], *, enabled: bool) -> None:
        self.offsets: dict[str, float] = {}
        total = 0.0
        for name, seconds in stages.items():
            self.offsets[name] = total
            total += seconds
        self.stages = stages
        self.bar = tqdm(
            total=round(total),
            desc="demo",
            unit="s",
            disable=not enabled,
            dynamic_ncols=True,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]{postfix}",
        )
        self.stage = next(iter(stages))

    def __enter__(self) -> DemoProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.bar.close()

    def start(self, stage: str) -> None:
        self.stage = stage
        self.bar.set_description_str(f"demo ({stage})", refresh=False)
        self._goto(self.offsets[stage])

    def update_stage(self, done: float, note: str = "") -> None:
        seconds = min(max(done, 0.0), self.stages[self.stage])
        if note:
            self.bar.set_postfix_str(note, refresh=False)
        self._goto(self.offsets[self.stage] + seconds)

    def finish(self) -> None:
        self.bar.set_description_str("demo (done)", refresh=False)
        self._goto(self.bar.total)

    def _goto(self, position: float) -> None:
        step = round(position) - self.bar.n
        if step > 0:
            self.bar.update(step)


def run_jobs(jobs: Sequence[Job], logs: Path, progress: DemoProgress, *, parallel: int) -> bool:
    """Run the jobs in order, `parallel` at a time, each with the cores shared out among the
    jobs that can run at once when it starts; returns True unless a required job failed (a
    failure prints the end of its console; another job's failure is only reported)."""
    cores = len(os.sched_getaffinity(0))
    logs.mkdir(parents=True, exist_ok=True)
    pending = list(jobs)
    running: list[tuple[Job, subprocess.Popen[str]]] = []
    started: dict[str, float] = {}
    ended: set[str] = set()
    with ExitStack() as files:
        try:
            while pending or running:
                while pending and len(running) < parallel:
                    job = pending.pop(0)
                    threads = max(1, cores // min(parallel, len(running) + 1 + len(pending)))
                    console = files.enter_context(open(logs / f"{job.name}.log", "w"))
                    running.append((job, _start(job, threads, console)))
                    started[job.name] = time.perf_counter()
                time.sleep(POLL_SECONDS)
                for job, process in list(running):
                    if process.poll() is None:
                        continue
                    running.remove((job, process))
                    ended.add(job.name)
                    if process.returncode:
                        _report_failure(job, logs / f"{job.name}.log", process.returncode)
                        if job.required:
                            return False
                clocks = {
                    n: math.inf if n in ended else time.perf_counter() - t0
                    for n, t0 in started.items()
                }
                done = _stage_done(jobs, parallel, clocks)
                progress.update_stage(done, ", ".join(j.note(clocks.get(j.name)) for j in jobs))
        finally:
            for _, process in running:
                process.terminate()  # our own children only
                process.wait()
    return True


def _start(job: Job, threads: int, console: IO[str]) -> subprocess.Popen[str]:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads)) | job.env
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    log.info("runs: starting %s (%d thread(s)): %s", job.name, threads, " ".join(job.command))
    return subprocess.Popen(
        [*job.command, "--threads", str(threads)],
        stdout=console,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )


def schedule_seconds(seconds: Sequence[float], parallel: int) -> float:
    """How long jobs of these durations take when started in order, `parallel` at a time,
    each as soon as a slot is free (as `run_jobs` does): the end of the last one."""
    slots = [0.0] * max(1, parallel)
    for s in seconds:
        slots[slots.index(min(slots))] += max(s, 0.0)
    return max(slots)


def _stage_done(jobs: Sequence[Job], parallel: int, clocks: dict[str, float]) -> float:
    """Estimated seconds done of the stage: its planned length less the time the work that is
    left still needs, scheduled the same way (finished jobs need none)."""
    left = [max(j.estimate - j.done_seconds(clocks.get(j.name)), 0.0) for j in jobs]
    total = schedule_seconds([j.estimate for j in jobs], parallel)
    return total - schedule_seconds(left, parallel)


def _report_failure(job: Job, console: Path, status: int) -> None:
    tail = console.read_text(encoding="utf-8", errors="replace").splitlines()[-20:]
    what = "error" if job.required else "warning"
    print(f"\n{what}: {job.name} failed (exit status {status}); {console} ends:", file=sys.stderr)
    for line in tail:
        print(f"  {line}", file=sys.stderr)
