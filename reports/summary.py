"""The report's header: what was run, on what hardware, with which commit (from the run files)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .curves import series
from .runs import RunData


@dataclass(frozen=True)
class RunSummary:
    """One line of the header table; empty strings where a file does not say."""

    name: str
    form: str
    dataset: str
    split: str
    images: str
    iterations: str
    commit: str
    hardware: str
    device: str
    started: str


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items() if _text(v))
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value if _text(v)) or "none"
    return str(value)


def commit_of(environment: Mapping[str, Any] | None) -> str:
    """`git.commit` (short) with `(dirty)` when `git.dirty`; flat `git_commit` also accepted."""
    env = environment or {}
    git = env.get("git") if isinstance(env.get("git"), Mapping) else {}
    assert isinstance(git, Mapping)
    commit = git.get("commit", env.get("git_commit", env.get("commit")))
    dirty = git.get("dirty", env.get("git_dirty"))
    if not isinstance(commit, str) or not commit:
        return ""
    return commit[:12] + (" (dirty)" if dirty is True else "")


def hardware_of(environment: Mapping[str, Any] | None) -> str:
    """`hardware` of environment.json in a few words: the CPU and its cores, the GPUs."""
    hardware = (environment or {}).get("hardware")
    if not isinstance(hardware, Mapping):
        return _text(hardware)
    parts = []
    cpu, cores = hardware.get("cpu"), hardware.get("usable_cpus") or hardware.get("cpu_count")
    if isinstance(cpu, str) and cpu:
        parts.append(cpu + (f" ({cores} cores)" if isinstance(cores, int) else ""))
    gpus = hardware.get("gpus")
    if isinstance(gpus, list):
        names = Counter(_text(g.get("name")) if isinstance(g, Mapping) else _text(g) for g in gpus)
        parts.append(", ".join(f"{n}× {name}" for name, n in names.items()) or "no GPU")
    return "; ".join(parts) or _text(hardware)


def summarise(run: RunData) -> RunSummary:
    """The header facts of one run."""
    env, timings = run.environment or {}, run.timings or {}
    its = series(run, "iteration")[1]
    return RunSummary(
        name=run.name,
        form=run.form if run.config else "",
        dataset=_text(run.dataset),
        split=_text(run.split),
        images="" if run.results is None else str(run.results.n_images),
        iterations="" if not len(its) else f"{max(its):.0f}",
        commit=commit_of(env),
        hardware=hardware_of(env),
        device=_text(timings.get("device")),
        started=_text(env.get("start_time")),
    )


def common(values: Sequence[str]) -> str:
    """The one value all runs share, or the distinct values joined with `|`."""
    distinct = list(dict.fromkeys(v for v in values if v))
    return " | ".join(distinct) if distinct else "not recorded"
