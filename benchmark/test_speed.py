"""Whole-process panoptic evaluation, every peer on the same workload (`nox -s bench`).

Each peer is one pytest-benchmark entry (whole process, `--speed-rounds` rounds); the summary
at the end of the run prints wall and CPU time, peak memory (the largest process and the
process tree), PQ and the ratios: ours / hotcoco (at most 1), ours / vernier and panopticapi /
ours (at least 6). Every peer with panopticapi's semantics must agree with the others on PQ,
SQ, RQ and every class's PQ, SQ and RQ to 1e-9.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from .peers import PEERS, PeerRun, available, check_agreement, run_peer
from .speed_report import EXACT_PEERS, SpeedOptions
from .speed_workload import Workload


@pytest.mark.parametrize("peer", PEERS)
def test_evaluation_speed(
    peer: str,
    benchmark: BenchmarkFixture,
    speed_options: SpeedOptions,
    speed_workload: Workload,
    warmup_workload: Workload,
    speed_runs: dict[str, list[PeerRun]],
    ours_python: Path | None,
) -> None:
    if peer not in speed_options.peers:
        pytest.skip(f"{peer} is not in --speed-peers")
    reason = available(peer)
    if reason is not None:
        pytest.skip(f"{peer} cannot run here: {reason}")
    limit = speed_options.torchmetrics_pairs if peer == "torchmetrics" else None
    log = speed_options.cache / f"{peer}.log"
    workers, python = speed_options.workers, ours_python
    run_peer(peer, warmup_workload, workers=workers, log=log, python=python)  # untimed
    runs: list[PeerRun] = []

    def once() -> None:
        runs.append(
            run_peer(peer, speed_workload, workers=workers, limit=limit, log=log, python=python)
        )

    benchmark.pedantic(once, rounds=speed_options.rounds, iterations=1)
    speed_runs[peer] = runs
    benchmark.extra_info.update(
        pairs=runs[0].pairs,
        cpu_s=[r.cpu_s for r in runs],
        peak_rss_mib=max(r.peak_rss_mib for r in runs),
        tree_rss_mib=max(r.tree_rss_mib for r in runs),
        pq=runs[0].result["pq"],
        workload=speed_workload.stats(),
    )
    if peer in EXACT_PEERS:
        for other in EXACT_PEERS:
            if other != peer and other in speed_runs:
                check_agreement(runs[0], speed_runs[other][0])
