"""What Boundary PQ costs (issue 12's target: at most 2x the plain evaluation), per image pair:
`evaluate_coco(..., boundary=True)` side by side with the same evaluation without it
(`nox -s bench`).

Workload: the analysis-cost benchmark's (`--analysis-pairs` pairs of the speed workload's
Cityscapes-size scenes, default 16), evaluated in this process with one worker, so that the
start-up, the JSON files and the pool that the whole-process benchmark (`ours-boundary` in
test_speed.py) adds to both runs do not dilute the ratio. Each round runs both, the plain one
first in every other round, so that a load drifting on a shared machine weighs on both alike;
the entry prints the median over rounds of boundary / plain, of wall time and of the process's
CPU time, and checks that PQ is the same.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest
from panoptic_metrics import evaluate_coco

from .speed_workload import Workload


def _timed(workload: Workload, boundary: bool) -> tuple[float, float, float]:
    """(wall s, CPU s, PQ) of one evaluation with or without Boundary PQ."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = evaluate_coco(
        workload.gt_json,
        workload.gt_folder,
        workload.pred_json,
        workload.pred_folder,
        workers=1,
        progress=False,
        boundary=boundary,
    )
    if boundary:
        assert out.boundary is not None
    return time.perf_counter() - wall, time.process_time() - cpu, out.pq


@pytest.mark.benchmark(group="boundary-cost")
def test_boundary_cost(
    benchmark: Any, analysis_workload: Workload, capsys: pytest.CaptureFixture[str]
) -> None:
    wall: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    scores: dict[bool, float] = {}

    def both() -> None:
        order = (False, True) if len(wall[False]) % 2 == 0 else (True, False)
        for boundary in order:
            seconds, cpu_seconds, scores[boundary] = _timed(analysis_workload, boundary)
            wall[boundary].append(seconds)
            cpu[boundary].append(cpu_seconds)

    both()  # compiles or loads the kernels, reads the PNGs into the page cache
    for series in (wall, cpu):
        series[False].clear()
        series[True].clear()
    benchmark.pedantic(both, rounds=8, iterations=1)
    assert scores[True] == scores[False]
    ratios = {
        name: [b / p for p, b in zip(series[False], series[True], strict=True)]
        for name, series in (("wall", wall), ("cpu", cpu))
    }
    benchmark.extra_info.update(
        plain_s=wall[False],
        boundary_s=wall[True],
        boundary_over_plain=statistics.median(ratios["wall"]),
        cpu_boundary_over_plain=statistics.median(ratios["cpu"]),
    )
    spec = analysis_workload.spec
    with capsys.disabled():
        print(
            f"\nBoundary PQ, {spec.pairs} pairs of {spec.height}x{spec.width}, 1 worker: "
            f"boundary / plain = {statistics.median(ratios['wall']):.3f} wall, "
            f"{statistics.median(ratios['cpu']):.3f} CPU (medians of {len(ratios['wall'])} "
            f"rounds; wall min {min(ratios['wall']):.3f}, max {max(ratios['wall']):.3f}; plain "
            f"median {statistics.median(wall[False]):.2f} s)"
        )
