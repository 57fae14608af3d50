"""Decode milliseconds per 1024x2048 segment-id PNG, for every candidate decoder.

Every candidate decodes the same PNGs (ground truth and predictions of the workload) and must
give the same ids as Pillow; the summary prints the ms per PNG of each
(the fastest of its rounds: the one least disturbed by other processes).
"""

from __future__ import annotations

import numpy as np
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from .png_decoders import candidates
from .speed_report import SpeedOptions
from .speed_workload import Workload

CANDIDATES = candidates()


@pytest.mark.parametrize("name", list(CANDIDATES))
def test_decode_speed(
    name: str,
    benchmark: BenchmarkFixture,
    speed_options: SpeedOptions,
    speed_workload: Workload,
    decode_ms: dict[str, float],
) -> None:
    factory = CANDIDATES[name]
    if isinstance(factory, str):
        pytest.skip(factory)
    decode = factory()
    half = speed_options.decode_images // 2
    paths = sorted(speed_workload.gt_folder.iterdir())[:half]
    paths += sorted(speed_workload.pred_folder.iterdir())[:half]
    reference = CANDIDATES["ours pillow"]
    assert not isinstance(reference, str)
    check = reference()
    for path in paths[:: max(1, len(paths) // 6)]:  # every candidate gives Pillow's ids
        assert np.array_equal(decode(path), check(path)), (name, path)

    def decode_all() -> None:
        for path in paths:
            decode(path)

    benchmark.pedantic(decode_all, rounds=7, iterations=1, warmup_rounds=1)
    assert benchmark.stats is not None  # set by pedantic
    ms = benchmark.stats.stats.min / len(paths) * 1000  # the least disturbed round
    benchmark.extra_info["ms_per_png"] = ms
    decode_ms[name] = ms
