"""Qualitative panels: for a few images (the worst by PQ first), the image, the ground truth,
and each run's panoptic prediction as a coloured overlay next to its errors.

Images are chosen from the reference run's metrics.json `per_image` (the run named `combined`,
else the first run that has per-image PQ): the worst, then the median and the best, then
further ones spread over the ranking. Without per-image PQ the first images are shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from .categories import Category
from .figures import Plot, new_figure, render
from .groundtruth import GroundTruthPaths, image_files
from .overlays import ERROR_COLOURS, colourise, error_map, overlay, paint_errors
from .panoptic_io import (
    PanopticImage,
    ReportInputError,
    read_panoptic_json,
    read_rgb,
    read_segment_ids,
)
from .runs import RunData, number

MAX_TILE_WIDTH = 768  # pixels of one tile; bigger images are drawn from a regular subsample


@dataclass(frozen=True)
class Choice:
    """An image to show and why it was chosen."""

    image_id: str
    why: str


def per_image_pq(run: RunData) -> dict[str, float]:
    """Image id -> PQ from metrics.json `per_image` (entries without a finite PQ left out)."""
    entries = (run.metrics or {}).get("per_image")
    out: dict[str, float] = {}
    for e in entries if isinstance(entries, list) else []:
        if isinstance(e, Mapping) and (pq := number(e.get("pq"))) is not None:
            out[str(e.get("image_id"))] = pq
    return out


def choose_images(runs: Sequence[RunData], available: Sequence[str], n: int) -> list[Choice]:
    """Up to `n` images from `available`: worst, median, best by PQ, then spread; else first."""
    ranked_run = next((r for r in runs if r.name == "combined" and per_image_pq(r)), None)
    ranked_run = ranked_run or next((r for r in runs if per_image_pq(r)), None)
    if ranked_run is None:
        return [Choice(i, "no per-image PQ in metrics.json") for i in list(available)[:n]]
    scores = per_image_pq(ranked_run)
    ranked = sorted((i for i in available if i in scores), key=lambda i: (scores[i], i))
    if not ranked:
        return [Choice(i, "") for i in list(available)[:n]]
    picks: list[int] = [0, len(ranked) // 2, len(ranked) - 1]
    picks += [round(k * (len(ranked) - 1) / max(n - 1, 1)) for k in range(n)]
    names = {0: "worst", len(ranked) // 2: "median", len(ranked) - 1: "best"}
    chosen: list[Choice] = []
    for k in picks:
        image_id = ranked[k]
        if len(chosen) < n and all(c.image_id != image_id for c in chosen):
            label = names.get(k, f"rank {k + 1}/{len(ranked)}")
            why = f"{label} by PQ of {ranked_run.name}: {100 * scores[image_id]:.1f}"
            chosen.append(Choice(image_id, why))
    return chosen


def _predictions(run: RunData) -> dict[str, PanopticImage]:
    folder = run.path / "predictions"
    return read_panoptic_json(folder / "panoptic.json", folder / "panoptic")


def _tile(ax: Axes, picture: np.ndarray, title: str) -> None:
    ax.imshow(picture, interpolation="nearest")
    ax.set_title(title, fontsize=12)
    ax.set_axis_off()


def _panel(
    choice: Choice,
    tiles: list[tuple[np.ndarray, str]],
    aspect: float,
) -> Plot:
    rows = -(-len(tiles) // 2)
    fig = new_figure(8.4, rows * (4.2 * aspect + 0.35) + 1.4)
    axes = fig.subplots(rows, 2, squeeze=False)
    for ax, (picture, title) in zip(axes.flat, tiles, strict=False):
        _tile(ax, picture, title)
    for ax in axes.flat[len(tiles) :]:
        ax.set_axis_off()
    handles = [
        Patch(color=(r / 255, g / 255, b / 255), label=label)
        for label, (r, g, b) in ERROR_COLOURS.values()
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=11, frameon=False)
    fig.suptitle(f"{choice.image_id}\n{choice.why}", fontsize=13)
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in choice.image_id)
    return render(fig, f"panel_{safe}", f"{choice.image_id}: {choice.why}", svg=False)


def qualitative_panels(
    runs: Sequence[RunData], paths: GroundTruthPaths, categories: Sequence[Category], n: int
) -> tuple[list[Plot], list[str]]:
    """The panels and the notices of what could not be shown."""
    notices: list[str] = []
    gt = read_panoptic_json(paths.json, paths.png_folder)
    photos = image_files(paths)
    preds: dict[str, dict[str, PanopticImage]] = {}
    for run in runs:
        try:
            preds[run.name] = _predictions(run)
        except ReportInputError as err:
            notices.append(f"{run.name}: no predictions for the panels: {err}")
    available = [i for i in gt if any(i in p for p in preds.values())]
    if not available:
        notices.append("no image has both ground truth and a prediction; no panels")
        return [], notices
    colours = {c.id: c.color for c in categories}
    things = frozenset(c.id for c in categories if c.isthing)
    plots = []
    for choice in choose_images(runs, available, n):
        try:
            plots.append(
                _one_panel(
                    choice, gt[choice.image_id], photos, preds, runs, colours, things, notices
                )
            )
        except ReportInputError as err:
            notices.append(f"panel of {choice.image_id} left out: {err}")
    return plots, notices


def _one_panel(
    choice: Choice,
    truth: PanopticImage,
    photos: Mapping[str, Path],
    preds: Mapping[str, Mapping[str, PanopticImage]],
    runs: Sequence[RunData],
    colours: Mapping[int, tuple[int, int, int] | None],
    things: frozenset[int],
    notices: list[str],
) -> Plot:
    gt_ids = read_segment_ids(truth.png)
    size = gt_ids.shape[0], gt_ids.shape[1]
    photo_path = photos.get(choice.image_id)
    photo = (
        read_rgb(photo_path, size) if photo_path is not None else np.full((*size, 3), 128, np.uint8)
    )
    # Errors are found at full resolution; tiles are drawn from every `step`-th pixel.
    step = max(1, -(-size[1] // MAX_TILE_WIDTH))
    small = photo[::step, ::step]
    tiles = [
        (small, "image" if photo_path is not None else "image (not found)"),
        (
            overlay(small, colourise(gt_ids[::step, ::step], truth.categories, colours, things)),
            "ground truth",
        ),
    ]
    for run in runs:
        pred = preds.get(run.name, {}).get(choice.image_id)
        if pred is None:
            continue
        try:
            ids = read_segment_ids(pred.png, size)
        except ReportInputError as err:
            notices.append(f"{run.name}: {err}")
            continue
        codes = error_map(gt_ids, truth.categories, truth.crowd, ids, pred.categories)
        share = 100.0 * np.count_nonzero(codes) / max(1, codes.size)
        coloured = colourise(ids[::step, ::step], pred.categories, colours, things)
        tiles.append((overlay(small, coloured), run.name))
        tiles.append(
            (paint_errors(small, codes[::step, ::step]), f"{run.name}: errors ({share:.1f}%)")
        )
    return _panel(choice, tiles, size[0] / size[1])
