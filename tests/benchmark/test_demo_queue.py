"""The demo's job queue, its progress bar and its time left, on fake jobs: records of known
progress for the estimate, and `python -c` children for the queue (no training)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmark.demo import Job, run_jobs, show, time_left

pytestmark = pytest.mark.needs_torch


def _job(name: str, steps: int, done: int = 0, seconds: float | None = None, **kw: Any) -> Job:
    return Job(name, ["true"], steps, done=done, seconds=seconds, **kw)


def test_a_jobs_time_left_is_its_steps_left_at_the_rate_it_has_shown() -> None:
    # 100 steps in the 50 s since its first step (at 10 s): 0.5 s a step, 450 steps left
    a = _job("a", 551, done=101, seconds=60.0, first=(1, 10.0))
    assert time_left([a], parallel=2) == pytest.approx(450 * 0.5)
    # its start-up (the 10 s before the first step) is left out: 50 s, not 60 s, per 100 steps
    assert a.per_step() == pytest.approx(0.5)


def test_the_jobs_left_are_queued_as_the_queue_runs_them() -> None:
    a = _job("a", 551, done=101, seconds=60.0, first=(1, 10.0))  # 0.5 s a step: 225 s left
    b = _job("b", 551, done=201, seconds=60.0, first=(1, 10.0))  # 0.25 s a step: 87.5 s left
    count = _job("count", 1)  # waits, shows no steps: the mean rate, 0.375 s, on b's slot
    assert time_left([a, b, count], parallel=2) == pytest.approx(225.0)
    # one slot: b waits too, and runs after a at the mean rate of those that showed one (a's)
    b_waiting = _job("b", 551)
    assert time_left([a, b_waiting], parallel=1) == pytest.approx(225.0 + 551 * 0.5)
    # a job that has ended needs no more time; its rate still stands for those yet to show one
    a.ended = True
    assert time_left([a, b_waiting], parallel=2) == pytest.approx(551 * 0.5)


def test_no_time_left_before_a_rate_is_seen() -> None:
    started = _job("a", 551, done=1, seconds=12.0, first=(1, 12.0))  # one step seen: no rate
    assert time_left([started, _job("b", 551)], parallel=2) is None


class FakeBar:
    def __init__(self) -> None:
        self.n = 0
        self.postfixes: list[str] = []

    def set_postfix_str(self, text: str) -> None:
        self.postfixes.append(text)


def test_the_bar_shows_the_steps_done_the_time_left_and_the_running_jobs() -> None:
    a = _job("a", 551, done=101, seconds=60.0, first=(1, 10.0))
    b = _job("b", 551, done=551, seconds=130.0, first=(1, 10.0), ended=True)
    jobs = [a, b, _job("cost", 1, seconds=2.0), _job("waiting", 5)]
    bar = FakeBar()
    show(bar, jobs, parallel=2)
    assert bar.n == 101 + 551
    # a: 450 steps at 0.5 s; cost: 1 step at the mean of a's 0.5 and b's 120/550 s
    assert bar.postfixes == ["03:45 left; a 101/551, cost"]


def _python(name: str, code: str, tmp_path: Path, **kw: Any) -> Job:
    """A job running `python -c code`; it records the `--threads N` it was given."""
    record = f"open({str(tmp_path / name)!r}, 'w').write(sys.argv[-1]); "
    return Job(name, [sys.executable, "-c", f"import sys; {record}{code}"], **kw)


@pytest.mark.slow
def test_run_jobs_shares_the_cores_reads_progress_and_survives_an_optional_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two jobs start together and share the cores, one alone gets them all; a failing
    optional job is reported, a failing required one fails the whole."""
    steps = tmp_path / "steps"
    each = f"open({str(steps)!r}, 'w').write(str(i)); time.sleep(0.1)"
    write = f"import time\nfor i in range(1, 4): {each}"
    jobs = [_python("a", write, tmp_path, steps=3, read=lambda: int(steps.read_text() or 0))]
    jobs += [_python("b", "sys.exit(3)", tmp_path, required=False)]
    steps.write_text("0")
    bar = FakeBar()
    assert run_jobs(jobs, tmp_path / "logs", bar, parallel=2, poll=0.05)
    assert "warning: b failed (exit status 3)" in capsys.readouterr().err
    assert (jobs[0].done, bar.n) == (3, 4)  # all ended: every job's steps counted
    assert any(" left; a " in p for p in bar.postfixes)  # a's steps were read while it ran
    failing = [_python("c", "print('trouble'); sys.exit(3)", tmp_path)]
    assert not run_jobs(failing, tmp_path / "logs", FakeBar(), parallel=2, poll=0.05)
    err = capsys.readouterr().err
    assert f"error: c failed (exit status 3); {tmp_path / 'logs' / 'c.log'} ends:\n  trouble" in err
    cores = len(os.sched_getaffinity(0))
    threads = {n: int((tmp_path / n).read_text()) for n in "abc"}
    assert threads == {"a": max(1, cores // 2), "b": max(1, cores // 2), "c": cores}
