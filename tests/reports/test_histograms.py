"""IoU histograms: panoptic_metrics' best-overlap counts of each run, near misses by hand."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from reports.categories import category_colours, run_categories
from reports.histograms import iou_histogram_plot, run_histograms
from reports.runs import load_run
from reports.sections import histogram_section


def test_histograms_are_the_per_class_counts_of_metrics_json(complete_runs: list[Path]) -> None:
    run = load_run(complete_runs[0])
    written = json.loads((complete_runs[0] / "metrics.json").read_text())["per_class"]
    found = run_histograms(run)
    car = found[26]
    assert car.category.name == "car"
    assert car.category.isthing
    np.testing.assert_array_equal(car.counts, written["26"]["iou_histogram"])
    # 20 bins of 0.05 (the library's default): (0.4, 0.5] is bins 8 and 9.
    assert car.near_misses == sum(written["26"]["iou_histogram"][8:10])
    # Every non-crowd gt segment is counted once: a TP has its best IoU above 0.5 (upper
    # half), so the upper half of each class's histogram holds exactly its TP count.
    for cid, entry in written.items():
        counts = entry["iou_histogram"]
        assert sum(counts[10:]) == entry["tp"], entry["name"]
        assert sum(counts) == entry["tp"] + entry["fn"], entry["name"]
        assert (int(cid) in found) == (sum(counts) > 0)


def test_the_plot_has_a_panel_per_class_with_ground_truth(complete_runs: list[Path]) -> None:
    runs = [load_run(p) for p in complete_runs]
    categories = run_categories(runs)
    assert [c.name for c in categories[:2]] == ["road", "sidewalk"]  # stuff first
    assert [c.isthing for c in categories] == sorted(c.isthing for c in categories)
    assert category_colours(runs)[26] == (0, 0, 142)  # car, from predictions/panoptic.json
    plot = iou_histogram_plot(runs, categories)
    assert plot is not None
    assert plot.png.startswith(b"\x89PNG")
    assert b"<svg" in plot.svg[:2000]


def test_a_run_without_the_librarys_results_gets_a_notice(
    copy_runs: Callable[[], list[Path]],
) -> None:
    combined, independent = copy_runs()
    metrics = json.loads((independent / "metrics.json").read_text())
    for entry in metrics["per_class"].values():
        del entry["iou_histogram"]
    (independent / "metrics.json").write_text(json.dumps(metrics))
    runs = [load_run(combined), load_run(independent)]
    assert run_histograms(runs[1]) == {}
    (notice,) = runs[1].notices  # the report lists the run's notices
    assert notice.startswith("metrics.json: not a panoptic_metrics results file (KeyError: ")
    section = histogram_section(runs)
    assert len(section.plots) == 1  # combined's histograms are still drawn
    assert section.notices == []
