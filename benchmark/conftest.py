"""Options, the cached workload and the summary table of the speed benchmarks (`nox -s bench`).

`pytest benchmark --benchmark-only [--speed-pairs 50 ...]`: the workload size, the peers and
the rounds are options, so a small run takes a minute and the full one (500 pairs of
1024x2048, as benchmark/README.md) about ten, plus the one-off generation of the workload.
`--speed-workload coco` selects the COCO-like workload (5000 pairs of 480x640 by default).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from .installed import installed_python
from .peers import PEERS, PeerRun
from .speed_report import SpeedOptions, summary_lines, write_report
from .speed_workload import COCO, WORKLOADS, Workload, WorkloadSpec, make_workload

ROOT = Path(__file__).resolve().parents[1]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("speed", "panoptic evaluation speed benchmark")
    group.addoption(
        "--speed-workload",
        choices=WORKLOADS,
        default="cityscapes",
        help="cityscapes: 500 pairs of 1024x2048; coco: 5000 COCO-like pairs of 480x640",
    )
    group.addoption("--speed-pairs", type=int, default=None, help="ground-truth/prediction pairs")
    group.addoption("--speed-height", type=int, default=None)
    group.addoption("--speed-width", type=int, default=None)
    group.addoption("--speed-seed", type=int, default=0)
    group.addoption("--speed-workers", type=int, default=2, help="worker processes per peer")
    group.addoption(
        "--speed-peers",
        default="hotcoco,vernier,panopticapi,cityscapes,ours,ours-boundary",
        help=f"comma-separated, from {','.join(PEERS)}",
    )
    group.addoption("--speed-rounds", type=int, default=1, help="timed runs per peer")
    group.addoption(
        "--speed-torchmetrics-pairs",
        type=int,
        default=100,
        help="torchmetrics runs on this many pairs only (when in --speed-peers)",
    )
    group.addoption("--speed-decode-images", type=int, default=40, help="PNGs per decode round")
    group.addoption(
        "--analysis-pairs", type=int, default=16, help="pairs of the analysis-cost benchmark"
    )
    group.addoption("--speed-cache", default=str(ROOT / "data" / "benchmark"))
    group.addoption(
        "--speed-installed",
        action="store_true",
        help="run ours from a fresh venv with `pip install ./metrics` (no extras), as a user would",
    )


@pytest.fixture(scope="session")
def speed_options(pytestconfig: pytest.Config) -> SpeedOptions:
    option = pytestconfig.getoption
    peers = tuple(p for p in str(option("speed_peers")).split(",") if p)
    unknown = set(peers) - set(PEERS)
    if unknown:
        raise pytest.UsageError(f"--speed-peers: unknown {sorted(unknown)}; known: {PEERS}")
    base = COCO if option("speed_workload") == "coco" else WorkloadSpec()
    given = {"pairs": "speed_pairs", "height": "speed_height", "width": "speed_width"}
    sized = {k: option(v) for k, v in given.items() if option(v) is not None}
    return SpeedOptions(
        spec=replace(base, seed=option("speed_seed"), **sized),
        cache=Path(option("speed_cache")),
        workers=option("speed_workers"),
        peers=peers,
        rounds=option("speed_rounds"),
        torchmetrics_pairs=option("speed_torchmetrics_pairs"),
        decode_images=option("speed_decode_images"),
    )


@pytest.fixture(scope="session")
def speed_workload(speed_options: SpeedOptions) -> Workload:
    """The workload, generated once (with a progress bar) and cached on disk."""
    workers = len(os.sched_getaffinity(0))
    return make_workload(speed_options.cache, speed_options.spec, workers=workers, progress=True)


@pytest.fixture(scope="session")
def analysis_workload(speed_options: SpeedOptions, pytestconfig: pytest.Config) -> Workload:
    """`--analysis-pairs` Cityscapes-size pairs: the workload of the benchmarks that time an
    option against the plain evaluation in one process (test_analysis_cost.py,
    test_boundary_cost.py)."""
    pairs = int(pytestconfig.getoption("analysis_pairs"))
    spec = replace(speed_options.spec, pairs=pairs, kind="cityscapes", extra_things=22)
    return make_workload(speed_options.cache, spec)


@pytest.fixture(scope="session")
def ours_python(speed_options: SpeedOptions, pytestconfig: pytest.Config) -> Path | None:
    """With `--speed-installed`, the interpreter of a fresh venv with the library installed."""
    if not pytestconfig.getoption("speed_installed"):
        return None
    return installed_python(speed_options.cache / "installed-venv")


@pytest.fixture(scope="session")
def warmup_workload(speed_options: SpeedOptions) -> Workload:
    """Four small pairs: each peer runs on them once, untimed, to fill its caches."""
    spec = replace(speed_options.spec, pairs=4, height=128, width=256)
    return make_workload(speed_options.cache, spec)


_RUNS: dict[str, list[PeerRun]] = {}
_DECODE: dict[str, float] = {}


@pytest.fixture(scope="session")
def speed_runs() -> dict[str, list[PeerRun]]:
    return _RUNS


@pytest.fixture(scope="session")
def decode_ms() -> dict[str, float]:
    return _DECODE


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = summary_lines(_RUNS, _DECODE)
    if not lines:
        return
    terminalreporter.section("panoptic evaluation speed")
    for line in lines:
        terminalreporter.write_line(line)
    path = Path(terminalreporter.config.getoption("speed_cache")) / "speed-report.json"
    write_report(path, _RUNS, _DECODE)
    terminalreporter.write_line(f"written to {path}")
