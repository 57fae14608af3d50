"""The demo's count of our network in the paper's configuration, beside the paper's figures.

The demo trains the small `tiny-synthetic` models; what a reader of the report wants beside
the paper's 51.43 M / 78.06 M parameters and 0.514 / 0.864 T FLOPs is our network in the
paper's configuration, counted the paper's way: `python -m benchmark.compute_cost --preset
paper-cityscapes --height 1024 --width 2048 --output <demo output>/cost-paper-cityscapes-
1024x2048.json`. It is a `Job` of `demo_jobs.run_jobs`, queued after the two runs: on 2 cores
it starts when the first run ends and counts on the core that run leaves free (one thread,
about 45 s and 4.6 GB: fvcore traces a real forward pass of each form at 1024x2048).

The file is kept and reused while it is current: the same preset and size, a full count of
both forms (fvcore's included), and parameters and multiply-adds equal to a fresh count on the
meta device (half a second), so a change to the model's code counts again.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reference_model.presets import preset

from .compute_cost import FORMS, measure

log = logging.getLogger("demo")

# Seconds of the count on one thread of a 2-core machine: the start-up (imports, building the
# models), and per dense-conv multiply-add of both forms (fvcore's trace runs the forward pass).
# Measured with MALLOC_ENV: paper-cityscapes at 1024x2048 (1.317 T dense MACs of both forms)
# took 44 s in the demo and 51 s in a trial, each beside a training run on the other core.
SECONDS_START = 5.0
SECONDS_PER_DENSE_MAC = 43.0 / 1.317e12
# glibc's malloc keeps the count's large buffers (up to 4 GiB each) in its heap instead of
# mapping fresh pages for each and returning them: on a 2-core machine, with a run training on
# the other core, the count took 73 s and slowed that run's iterations to twice their time for
# ~20 s (the kernel faulting in pages: 18 s of system time); with these 51 s, 7 s of system
# time, and the run 12% slower while it lasts. Peak memory: 4.2-4.6 instead of 2.6 GB.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(2**32), "MALLOC_TRIM_THRESHOLD_": str(2**33)}
# The figures a cached file must hold for each form, equal to a fresh count on the meta device.
CHECKED = ("params", "dense_conv_macs", "roi_macs_per_detection")


@dataclass(frozen=True)
class CostJob:
    """`python -m benchmark.compute_cost` of both forms at a preset and size, as a demo job
    (`demo_jobs.Job`); not required: if it fails, the report says the file is missing."""

    preset: str
    path: Path  # the JSON it writes (atomically)
    command: list[str]
    estimate: float
    required: bool = False

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def env(self) -> dict[str, str]:
        return MALLOC_ENV

    def done_seconds(self, running_for: float | None) -> float:
        """It writes nothing on the way: the time it has run, up to 95% of its estimate."""
        if running_for is None:
            return 0.0
        return self.estimate if math.isinf(running_for) else min(running_for, 0.95 * self.estimate)

    def note(self, running_for: float | None) -> str:
        state = "waiting" if running_for is None else "done" if math.isinf(running_for) else ""
        return f"{self.preset} cost {state or 'counting'}"


def cost_path(output: Path, preset_name: str, height: int, width: int) -> Path:
    """Where the demo keeps the count of `preset_name` at height x width."""
    return output / f"cost-{preset_name}-{height}x{width}.json"


def stale(path: Path, fresh: dict[str, Any], preset_name: str, height: int, width: int) -> str:
    """Why the file at `path` cannot be reused ("" when it can); `fresh`: `measure` of both
    forms on the meta device, without fvcore."""
    if not path.is_file():
        return "not counted yet"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return f"unreadable ({err})"
    if not isinstance(data, dict):
        return f"not a JSON object but {type(data).__name__}"
    setting = (data.get("preset"), data.get("height"), data.get("width"))
    if setting != (preset_name, height, width):
        return f"counted for {setting}, not ({preset_name!r}, {height}, {width})"
    for form in FORMS:
        block = data.get(form)
        if not isinstance(block, dict) or not isinstance(block.get("fvcore_flops"), int):
            return f"no full count of {form} (fvcore_flops)"
        for key in CHECKED:
            if block.get(key) != fresh[form][key]:
                return f"{form} {key} is {block.get(key)}, the model now gives {fresh[form][key]}"
    return ""


def plan_cost(
    output: Path, preset_name: str, height: int, width: int
) -> tuple[Path, CostJob | None]:
    """The cost file of the report, and the job that counts it (None when the file there is
    current)."""
    path = cost_path(output, preset_name, height, width)
    fresh = measure(
        preset(preset_name), forms=FORMS, height=height, width=width, fvcore=False, progress=False
    )
    problem = stale(path, fresh, preset_name, height, width)
    if not problem:
        log.info("cost: %s is up to date", path)
        return path, None
    log.info("cost: counting %s (%s)", path, problem)
    command = [sys.executable, "-m", "benchmark.compute_cost", "--preset", preset_name]
    command += ["--height", str(height), "--width", str(width), "--output", str(path)]
    macs = sum(fresh[form]["dense_conv_macs"] for form in FORMS)
    return path, CostJob(preset_name, path, command, SECONDS_START + macs * SECONDS_PER_DENSE_MAC)
