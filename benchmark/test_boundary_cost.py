"""What Boundary PQ costs (issue 12's target: at most 2x the plain evaluation), per image pair:
`evaluate_coco(..., boundary=True)` side by side with the same evaluation without it
(`nox -s bench`).

Workload: the analysis-cost benchmark's (`--analysis-pairs` pairs of the speed workload's
Cityscapes-size scenes, default 16), evaluated in this process with one worker, so that the
start-up, the JSON files and the pool that the whole-process benchmark (`ours-boundary` in
test_speed.py) adds to both runs do not dilute the ratio. Each round runs both, the plain one
first in every other round, so that a load drifting on a shared machine weighs on both alike;
the entry prints the median over rounds of boundary / plain, of wall time and of the process's
CPU time, and checks that PQ is the same. Beside it, the kernels alone on the first pair (thread
CPU time, best of 5): Boundary PQ's band table against PQ's intersection table, the one kernel
per pair that PQ itself needs.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest
from panoptic_metrics import kernels, load_coco_panoptic

from .speed_workload import Workload
from .test_analysis_cost import evaluate_in_process


def _timed(workload: Workload, boundary: bool) -> tuple[float, float, float]:
    """(wall s, CPU s, PQ) of one evaluation with or without Boundary PQ."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = evaluate_in_process(workload, boundary=boundary)
    if boundary:
        assert out.boundary is not None
    return time.perf_counter() - wall, time.process_time() - cpu, out.pq


def _best_ms(run: Any, rounds: int = 5) -> float:
    run()
    best = float("inf")
    for _ in range(rounds):
        start = time.thread_time()
        run()
        best = min(best, time.thread_time() - start)
    return best * 1e3


def _kernel_ms(workload: Workload) -> tuple[float, float]:
    """(band table ms, intersection table ms) of the workload's first pair."""
    gt_set = load_coco_panoptic(workload.gt_json, workload.gt_folder)
    pred_set = load_coco_panoptic(workload.pred_json, workload.pred_folder)
    image_id = sorted(gt_set.images, key=str)[0]
    gt, pred = gt_set.images[image_id].load(), pred_set.images[image_id].load()
    lookups = (*gt.segments.dense_lookup(), *pred.segments.dense_lookup())
    h, w = gt.ids.shape
    d = kernels.dilation_pixels(kernels.DEFAULT_DILATION_RATIO, h, w)
    band = _best_ms(lambda: kernels.boundary_table(gt.ids, pred.ids, d, *lookups))
    flat = (gt.ids.reshape(-1), pred.ids.reshape(-1))
    table = _best_ms(lambda: kernels.intersection_table(*flat, *lookups))
    return band, table


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
    band_ms, table_ms = _kernel_ms(analysis_workload)
    benchmark.extra_info.update(band_table_ms=band_ms, intersection_table_ms=table_ms)
    spec = analysis_workload.spec
    with capsys.disabled():
        print(
            f"\nBoundary PQ, {spec.pairs} pairs of {spec.height}x{spec.width}, 1 worker: "
            f"boundary / plain = {statistics.median(ratios['wall']):.3f} wall, "
            f"{statistics.median(ratios['cpu']):.3f} CPU (medians of {len(ratios['wall'])} "
            f"rounds; wall min {min(ratios['wall']):.3f}, max {max(ratios['wall']):.3f}; plain "
            f"median {statistics.median(wall[False]):.2f} s)\n"
            f"kernels on the first pair: band table {band_ms:.1f} ms, intersection table "
            f"{table_ms:.1f} ms (thread CPU, best of 5)"
        )
