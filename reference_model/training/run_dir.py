"""A run directory (docs/contracts.md §4): config, environment, loss log, checkpoints, timings.

Every JSON file is replaced atomically (panoptic_metrics' writer: temporary file and rename,
strict JSON). `log.jsonl` grows one line per logged iteration; when a run resumes, lines past
the checkpoint (and a line torn by a kill) are dropped first, so the log always matches the
weights.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import torch
from panoptic_metrics.io import read_json, write_json_atomic

log = logging.getLogger(__name__)

PACKAGES = (
    "torch",
    "torchvision",
    "numpy",
    "pillow",
    "numba",
    "panoptic-metrics",
    "seamless-harness",
)


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(world_size: int = 1) -> dict[str, Any]:
    """Where and how a run was started: git commit, command, versions, hardware, time."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    gpus = [
        {
            "name": torch.cuda.get_device_name(i),
            "memory_bytes": torch.cuda.get_device_properties(i).total_memory,
        }
        for i in range(torch.cuda.device_count())
    ]
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "command": [sys.executable, *sys.argv],
        "versions": _versions(),
        "hardware": {
            "cpu": _cpu_name(),
            "cpu_count": os.cpu_count(),
            "usable_cpus": len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else None,
            "gpus": gpus,
            "hostname": socket.gethostname(),
            "platform": platform.platform(),
        },
        "world_size": world_size,
        "start_time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


class RunDirectory:
    """The files of one run under `path` (created on demand)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.config = self.path / "config.json"
        self.environment = self.path / "environment.json"
        self.log = self.path / "log.jsonl"
        self.checkpoints = self.path / "checkpoints"
        self.last_checkpoint = self.checkpoints / "last.pt"
        self.timings = self.path / "timings.json"
        self.metrics = self.path / "metrics.json"
        self.curve = self.path / "curve.jsonl"  # PQ along the way (curve.py)
        self.predictions = self.path / "predictions"
        self.tensorboard = self.path / "tensorboard"

    def update_json(self, path: Path, values: Mapping[str, Any]) -> None:
        """Merge `values` into the JSON object at `path` (created if missing), atomically."""
        current = read_json(path) if path.exists() else {}
        write_json_atomic({**current, **values}, path)

    def start(self, config: Mapping[str, Any], *, resume: bool, world_size: int) -> None:
        """Record the configuration and environment; on resume, check the configuration."""
        self.path.mkdir(parents=True, exist_ok=True)
        if resume and self.config.exists():
            before = read_json(self.config)
            if before != json.loads(json.dumps(config)):
                changed = sorted(_diff(before, dict(config)))
                raise ValueError(
                    f"{self.config}: the run was started with another configuration "
                    f"(differs in {changed}); resume it unchanged or use a new run directory"
                )
        else:
            write_json_atomic(config, self.config)
        env = environment(world_size)
        if resume and self.environment.exists():
            first = read_json(self.environment)
            first.setdefault("resumed", []).append(env)
            env = first
        write_json_atomic(env, self.environment)

    def open_log(self, after_iteration: int) -> IO[str]:
        """Open log.jsonl for appending, first keeping only whole lines up to `after_iteration`."""
        if self.log.exists():
            kept = []
            for line in self.log.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line torn by a kill
                if entry.get("iteration", 0) <= after_iteration:
                    kept.append(line)
            tmp = self.log.with_name(f".{self.log.name}.part")
            tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
            os.replace(tmp, self.log)
        return open(self.log, "a", encoding="utf-8")

    def read_log(self) -> list[dict[str, Any]]:
        """The entries of log.jsonl."""
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


def _diff(a: Any, b: Any, prefix: str = "") -> set[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: set[str] = set()
        for key in set(a) | set(b):
            out |= _diff(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return set() if a == b else {prefix.rstrip(".")}
