"""IoU histograms: counts read from metrics.json per_class, near misses counted by hand."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from reports.categories import Category, run_categories
from reports.histograms import histogram, iou_histogram_plot, near_misses, runs_with_histograms
from reports.runs import load_run


def test_near_misses_are_the_bins_in_0_4_to_0_5() -> None:
    # 10 bins of 0.1: bin 4 is (0.4, 0.5]; 20 bins of 0.05: bins 8 and 9.
    assert near_misses(np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10.0])) == 5
    assert near_misses(np.arange(20.0)) == 8 + 9
    assert near_misses(np.array([3.0, 4.0])) == 0  # (0, 0.5] is wider than the band


def test_histograms_come_from_per_class_and_bad_ones_are_ignored(
    copy_runs: Callable[[], list[Path]],
) -> None:
    combined, independent = copy_runs()
    written = json.loads((combined / "metrics.json").read_text())
    metrics = json.loads((independent / "metrics.json").read_text())
    for entry in metrics["per_class"].values():
        entry["iou_histogram"] = [1, -2, 3]  # a negative count: unusable
    (independent / "metrics.json").write_text(json.dumps(metrics))
    runs = [load_run(combined), load_run(independent)]
    categories = run_categories(runs)
    car = next(c for c in categories if c.name == "car")
    assert car == Category(26, "car", True, (0, 0, 142))
    np.testing.assert_array_equal(
        histogram(runs[0], car), written["per_class"]["26"]["iou_histogram"]
    )
    assert histogram(runs[1], car) is None
    assert runs_with_histograms(runs, categories) == [runs[0]]
    plot = iou_histogram_plot(runs, categories)
    assert plot is not None
    assert plot.png.startswith(b"\x89PNG")
    assert iou_histogram_plot([runs[1]], categories) is None
