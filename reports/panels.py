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
from panoptic_metrics import CategorySet, PanopticInputError, load_coco_panoptic
from panoptic_metrics.matching import Mode
from panoptic_metrics.readers.coco import CocoPanopticSource

from .categories import RGB
from .figures import Plot, new_figure, render
from .groundtruth import GroundTruthPaths, image_files
from .intervals import REFERENCE_RUN
from .overlays import ERROR_COLOURS, colourise, error_map, overlay, paint_errors, segment_categories
from .photos import read_rgb
from .runs import RunData, number

MAX_TILE_WIDTH = 768  # pixels of one tile; bigger images are drawn from a regular subsample


@dataclass(frozen=True)
class Choice:
    """An image to show and why it was chosen."""

    image_id: str
    why: str


def per_image_pq(run: RunData) -> dict[str, float]:
    """Image id (as a string) -> PQ of the run's per-image results (undefined ones left out)."""
    images = run.results.per_image if run.results is not None else ()
    return {str(i.image_id): i.pq for i in images if number(i.pq) is not None}


def choose_images(runs: Sequence[RunData], available: Sequence[str], n: int) -> list[Choice]:
    """Up to `n` images from `available`: worst, median, best by PQ, then spread; else first."""
    ranked_run = next((r for r in runs if r.name == REFERENCE_RUN and per_image_pq(r)), None)
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


def _predictions(run: RunData, categories: CategorySet) -> dict[str, CocoPanopticSource]:
    """The run's predictions/panoptic.json by image id (as a string), checked by
    panoptic_metrics against the ground truth's categories."""
    folder = run.path / "predictions"
    found = load_coco_panoptic(folder / "panoptic.json", folder / "panoptic", categories=categories)
    return {str(k): v for k, v in found.images.items()}


def _ground_truth(paths: GroundTruthPaths) -> tuple[dict[str, CocoPanopticSource], CategorySet]:
    """The ground truth's images by image id (as a string), and its categories."""
    gt = load_coco_panoptic(paths.json, paths.png_folder)
    if gt.categories is None:
        raise PanopticInputError(str(paths.json), "the ground-truth JSON has no `categories`")
    return {str(k): v for k, v in gt.images.items()}, gt.categories


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


@dataclass(frozen=True)
class PanelInputs:
    """What every panel reads besides its ground truth: the photos, each run's predictions."""

    categories: CategorySet
    photos: Mapping[str, Path]
    predictions: Mapping[str, Mapping[str, CocoPanopticSource]]  # run name -> image id -> source
    colours: Mapping[int, RGB]


def qualitative_panels(
    runs: Sequence[RunData], paths: GroundTruthPaths, colours: Mapping[int, RGB], n: int
) -> tuple[list[Plot], list[str]]:
    """The panels and the notices of what could not be shown.

    Raises:
        PanopticInputError: the ground truth or the photos' list cannot be read.
    """
    notices: list[str] = []
    gt_images, categories = _ground_truth(paths)
    predictions: dict[str, dict[str, CocoPanopticSource]] = {}
    for run in runs:
        try:
            predictions[run.name] = _predictions(run, categories)
        except PanopticInputError as err:
            notices.append(f"{run.name}: no predictions for the panels: {err}")
    inputs = PanelInputs(categories, image_files(paths), predictions, colours)
    available = [i for i in gt_images if any(i in p for p in predictions.values())]
    if not available:
        notices.append("no image has both ground truth and a prediction; no panels")
        return [], notices
    plots = []
    for choice in choose_images(runs, available, n):
        try:
            plots.append(_one_panel(choice, gt_images[choice.image_id], inputs, runs, notices))
        except PanopticInputError as err:
            notices.append(f"panel of {choice.image_id} left out: {err}")
    return plots, notices


def _one_panel(
    choice: Choice,
    truth: CocoPanopticSource,
    inputs: PanelInputs,
    runs: Sequence[RunData],
    notices: list[str],
) -> Plot:
    gt = truth.load()
    size = gt.ids.shape[0], gt.ids.shape[1]
    photo_path = inputs.photos.get(choice.image_id)
    photo = (
        read_rgb(photo_path, size) if photo_path is not None else np.full((*size, 3), 128, np.uint8)
    )
    things = frozenset(c.id for c in inputs.categories.categories if c.isthing)
    # Errors are found at full resolution; tiles are drawn from every `step`-th pixel.
    step = max(1, -(-size[1] // MAX_TILE_WIDTH))
    small = photo[::step, ::step]

    def coloured(ids: np.ndarray, segments: dict[int, int]) -> np.ndarray:
        return overlay(small, colourise(ids[::step, ::step], segments, inputs.colours, things))

    tiles = [
        (small, "image" if photo_path is not None else "image (not found)"),
        (coloured(gt.ids, segment_categories(gt)), "ground truth"),
    ]
    for run in runs:
        source = inputs.predictions.get(run.name, {}).get(choice.image_id)
        if source is None:
            continue
        try:
            pred = source.load(expected_shape=size)
            codes = error_map(gt, pred, inputs.categories, _mode(run))
        except PanopticInputError as err:
            notices.append(f"{run.name}: {err}")
            continue
        share = 100.0 * np.count_nonzero(codes) / max(1, codes.size)
        tiles.append((coloured(pred.ids, segment_categories(pred)), run.name))
        tiles.append(
            (paint_errors(small, codes[::step, ::step]), f"{run.name}: errors ({share:.1f}%)")
        )
    return _panel(choice, tiles, size[0] / size[1])


def _mode(run: RunData) -> Mode:
    """The evaluation mode the run's metrics were computed in (strict unless it says)."""
    return run.results.mode if run.results is not None else "strict"
