"""The demo's runs as child processes, and one progress bar over the whole demo.

Each run is a `python -m benchmark.runs` process writing its console to `<output>/logs/`.
Their progress is read from what they write anyway: the last iteration in `log.jsonl` and the
number of PNGs in `predictions/panoptic/`. The bar's unit is an estimated second, so tqdm's
rate and time left hold for the whole demo, not just the current stage.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from tqdm import tqdm

log = logging.getLogger("demo")

ROOT = Path(__file__).resolve().parents[1]  # the checkout: benchmark/ and reference_model/
POLL_SECONDS = 1.0


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

    def clear_if_stale(self, *, fresh_data: bool) -> None:
        """Remove the run directory if it was made for other data or with another config."""
        config = self.run_dir / "config.json"
        if config.exists() and (fresh_data or json.loads(config.read_text()) != self.config):
            log.info("runs: %s was made with other data or settings: starting again", self.run_dir)
            shutil.rmtree(self.run_dir)

    def done_seconds(self) -> float:
        """The estimated seconds of work done so far, from the files the run has written."""
        trained = _last_iteration(self.run_dir / "log.jsonl") / self.iterations
        folder = self.run_dir / "predictions" / "panoptic"
        evaluated = len(list(folder.glob("*.png"))) / self.val_images if folder.is_dir() else 0
        return self.train_seconds * min(trained, 1.0) + self.eval_seconds * min(evaluated, 1.0)


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


def run_jobs(jobs: list[RunJob], logs: Path, progress: DemoProgress, *, parallel: int) -> bool:
    """Run the jobs, `parallel` at a time, each with `threads` torch threads (the cores shared
    out); returns True when every one succeeded (a failure prints the end of its console)."""
    threads = max(1, len(os.sched_getaffinity(0)) // parallel)
    logs.mkdir(parents=True, exist_ok=True)
    pending = list(jobs)
    running: list[tuple[RunJob, subprocess.Popen[str]]] = []
    with ExitStack() as files:
        try:
            while pending or running:
                while pending and len(running) < parallel:
                    job = pending.pop(0)
                    console = files.enter_context(open(logs / f"{job.name}.log", "w"))
                    running.append((job, _start(job, threads, console)))
                time.sleep(POLL_SECONDS)
                for job, process in list(running):
                    if process.poll() is None:
                        continue
                    running.remove((job, process))
                    if process.returncode:
                        _report_failure(job, logs / f"{job.name}.log", process.returncode)
                        return False
                progress.update_stage(_stage_done(jobs, parallel), _note(jobs))
        finally:
            for _, process in running:
                process.terminate()  # our own children only
                process.wait()
    return True


def _start(job: RunJob, threads: int, console: IO[str]) -> subprocess.Popen[str]:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    log.info("runs: starting %s (%d thread(s)): %s", job.name, threads, " ".join(job.command))
    return subprocess.Popen(
        [*job.command, "--threads", str(threads)],
        stdout=console,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )


def _stage_done(jobs: list[RunJob], parallel: int) -> float:
    """Estimated seconds done of the runs stage: one after the other, the sum of the work
    done; side by side, the stage's length less the longest time any run still needs."""
    if parallel == 1:
        return sum(min(j.done_seconds(), j.estimate) for j in jobs)
    return max(j.estimate for j in jobs) - max(j.estimate - j.done_seconds() for j in jobs)


def _note(jobs: list[RunJob]) -> str:
    return ", ".join(
        f"{j.name} {_last_iteration(j.run_dir / 'log.jsonl')}/{j.iterations}" for j in jobs
    )


def _report_failure(job: RunJob, console: Path, status: int) -> None:
    tail = console.read_text(encoding="utf-8", errors="replace").splitlines()[-20:]
    print(
        f"\nerror: run {job.name} failed (exit status {status}); {console} ends:", file=sys.stderr
    )
    for line in tail:
        print(f"  {line}", file=sys.stderr)
