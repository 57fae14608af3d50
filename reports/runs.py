"""Read a run directory (docs/contracts.md §4) into a `RunData`, never raising on bad files.

Every results file is optional: a run that is missing a file, or whose file is truncated,
corrupt or lacks expected keys, loads with that part set to `None` (or empty) and a notice
naming the file and the problem. The report shows those notices instead of crashing.

metrics.json is read once, into panoptic_metrics' `RunResults` (`from_json`, which recomputes
every PQ score from the sums it carries): the tables, cards, plots and bootstrap intervals all
use that typed object, so they read exactly what the library wrote.
"""

from __future__ import annotations

import json
import logging
import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from panoptic_metrics import PanopticInputError, PanopticResults, RunResults
from panoptic_metrics.io import read_json as load_json

log = logging.getLogger(__name__)

# The keys each results file should hold (docs/contracts.md §4); a file lacking some of
# them is "partial" and the report says which are missing.
EXPECTED_KEYS: dict[str, tuple[str, ...]] = {
    "metrics.json": ("split", "dataset"),  # the rest: RunResults.from_json names what is wrong
    "timings.json": (
        "train_seconds",
        "train_seconds_per_iteration",
        "inference_seconds_per_image",
        "peak_memory_bytes",
        "device",
    ),
    "environment.json": (),
    "config.json": (),
    "cost.json": (),
}
# Results files bigger than this are refused rather than parsed (a report input, not a dataset).
MAX_JSON_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class SeedResult:
    """One seed of a run repeated with `--seeds N` (benchmark.runs): its PQ and PQ†."""

    seed: int
    pq: float
    pq_dagger: float


@dataclass(frozen=True)
class RunData:
    """Everything the report uses from one run directory; `None` where a file is unusable."""

    name: str
    path: Path
    config: dict[str, Any] | None = None
    environment: dict[str, Any] | None = None
    metrics: RunResults | None = None  # metrics.json through RunResults.from_json
    dataset: str | None = None  # metrics.json `dataset` and `split`
    split: str | None = None
    timings: dict[str, Any] | None = None
    cost: dict[str, Any] | None = None
    log: tuple[dict[str, Any], ...] = ()
    curve: tuple[dict[str, Any], ...] = ()  # curve.jsonl: PQ along the way
    seeds: tuple[SeedResult, ...] = ()  # this run and its RUN-seedS siblings, when any
    notices: tuple[str, ...] = field(default=())

    @property
    def results(self) -> PanopticResults | None:
        """The PQ/PQ† part of the run's metrics."""
        return None if self.metrics is None else self.metrics.panoptic

    @property
    def form(self) -> str:
        """`combined` or `independent` from config.json (`model.form`), else the run's name."""
        model = (self.config or {}).get("model")
        form = model.get("form") if isinstance(model, Mapping) else None
        return form if isinstance(form, str) else self.name


def lacking(
    runs: Sequence[RunData], has: Callable[[PanopticResults], bool], what: str, where: str
) -> list[str]:
    """A notice per run whose metrics lack `what` (so it is not in `where`), and one more when
    no run has it (so there is no `where`)."""
    scored = [r for r in runs if r.results is not None]
    notices = [
        f"{r.name}: metrics.json has no {what}: not in the {where}"
        for r in scored
        if r.results is not None and not has(r.results)
    ]
    if not any(r.results is not None and has(r.results) for r in scored):
        notices.append(f"no run's metrics.json has {what}: no {where}")
    return notices


def number(value: Any) -> float | None:
    """`value` as a finite float, or None for null, NaN, infinities, bools and non-numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def read_json(path: Path, notices: list[str]) -> dict[str, Any] | None:
    """Parse a JSON object from `path`; on any problem append a notice and return None."""
    if not path.is_file():
        notices.append(f"{path.name} is missing ({path})")
        return None
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            notices.append(f"{path.name} is too large to read ({size} bytes > {MAX_JSON_BYTES})")
            return None
        data = load_json(path)  # the library's parser: the same checks as the evaluation's
    except (OSError, PanopticInputError) as err:
        notices.append(f"{path.name} is unreadable or not valid JSON ({path}): {err}")
        return None
    if not isinstance(data, dict):
        notices.append(f"{path.name} should hold a JSON object, found {type(data).__name__}")
        return None
    missing = [k for k in EXPECTED_KEYS.get(path.name, ()) if k not in data]
    if missing:
        notices.append(f"{path.name} is partial: no {', '.join(missing)} ({path})")
    return data


def read_log(path: Path, notices: list[str]) -> tuple[dict[str, Any], ...]:
    """The records of a `log.jsonl`; unreadable lines (e.g. a killed run's last one) are skipped."""
    if not path.is_file():
        notices.append(f"{path.name} is missing ({path})")
        return ()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        notices.append(f"{path.name} is unreadable ({path}): {err}")
        return ()
    records: list[dict[str, Any]] = []
    bad: list[int] = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            bad.append(i)
            continue
        if isinstance(record, dict) and number(record.get("iteration")) is not None:
            records.append(record)
        else:
            bad.append(i)
    if bad:
        shown = ", ".join(map(str, bad[:5])) + (" ..." if len(bad) > 5 else "")
        notices.append(f"{path.name}: skipped {len(bad)} unreadable line(s) ({shown}) in {path}")
    if lines and not records:
        notices.append(f"{path.name} holds no usable records ({path})")
    return tuple(records)


def read_metrics(
    data: Mapping[str, Any] | None, path: Path, notices: list[str]
) -> RunResults | None:
    """metrics.json as panoptic_metrics' run results, or None with a notice when it is not."""
    if data is None:
        return None
    try:
        with warnings.catch_warnings():  # undefined means (NaN) show as dashes in the report
            warnings.simplefilter("ignore", RuntimeWarning)
            return RunResults.from_json(data, source=str(path))
    except PanopticInputError as err:
        notices.append(f"{path.name}: {err.problem} ({path}); this run's metrics are not shown")
        return None


def check_curve(
    records: tuple[dict[str, Any], ...], config: Mapping[str, Any] | None, path: Path
) -> str | None:
    """A notice when curve.jsonl stops short of the schedule in config.json (a run stopped
    or still training), else None."""
    training = (config or {}).get("training")
    planned = number(training.get("iterations")) if isinstance(training, Mapping) else None
    last = max((number(r.get("iteration")) or 0 for r in records), default=None)
    if planned is None or last is None or last >= planned:
        return None
    return (
        f"{path.name} is partial: its last evaluation is at iteration {last:.0f} of "
        f"{planned:.0f} ({path})"
    )


def _seed_of(config: Mapping[str, Any] | None) -> int:
    training = (config or {}).get("training")
    seed = training.get("seed") if isinstance(training, Mapping) else None
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else 0


def read_seeds(
    path: Path, config: Mapping[str, Any] | None, metrics: RunResults | None, notices: list[str]
) -> tuple[SeedResult, ...]:
    """This run's seed and those of its siblings `<name>-seed<S>` beside it (written by
    `benchmark.runs --seeds N`), by seed; () when it has none. A sibling without usable
    metrics is a notice and left out."""
    pattern = re.compile(re.escape(path.name) + r"-seed(\d+)")
    siblings = sorted(
        (int(m.group(1)), p)
        for p in path.parent.iterdir()
        if p.is_dir() and (m := pattern.fullmatch(p.name))
    )
    if not siblings:
        return ()
    results = [] if metrics is None else [(_seed_of(config), metrics)]
    for seed, sibling in siblings:
        found: list[str] = []
        data = read_json(sibling / "metrics.json", found)
        other = read_metrics(data, sibling / "metrics.json", found)
        notices += [f"{sibling.name}: {n}" for n in found]
        if other is not None:
            results.append((seed, other))
    return tuple(
        SeedResult(seed, r.panoptic.pq, r.panoptic.pq_dagger) for seed, r in sorted(results)
    )


def _text(data: Mapping[str, Any] | None, key: str) -> str | None:
    value = (data or {}).get(key)
    return value if isinstance(value, str) else None


def load_run(path: str | Path) -> RunData:
    """Load a run directory; problems become notices on the returned `RunData`."""
    path = Path(path)
    notices: list[str] = []
    if not path.is_dir():
        notices.append(f"run directory {path} does not exist or is not a directory")
        return RunData(name=path.name or str(path), path=path, notices=tuple(notices))
    files = {
        name: read_json(path / f"{name}.json", notices)
        for name in ("config", "environment", "timings", "cost")
    }
    data = read_json(path / "metrics.json", notices)
    metrics = read_metrics(data, path / "metrics.json", notices)
    records = read_log(path / "log.jsonl", notices)
    curve = read_log(path / "curve.jsonl", notices)  # the same line format and checks
    partial = check_curve(curve, files["config"], path / "curve.jsonl")
    notices += [partial] if partial else []
    seeds = read_seeds(path, files["config"], metrics, notices)
    for notice in notices:
        log.warning("run %s: %s", path.name, notice)
    return RunData(
        name=path.name,
        path=path,
        metrics=metrics,
        dataset=_text(data, "dataset"),
        split=_text(data, "split"),
        log=records,
        curve=curve,
        seeds=seeds,
        notices=tuple(notices),
        **files,
    )
