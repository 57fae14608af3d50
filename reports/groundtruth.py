"""Where the ground truth and the images of the evaluated split are, for the panels.

Given explicitly (`--gt-json`, `--gt-folder`, `--images`), or found from a run's config.json:
`data.root` (the dataset folder in the Cityscapes layout, which the synthetic dataset uses)
and the split from metrics.json `split` (else `data.val_split`, `data.split`, else `val`):

    {root}/gtFine/cityscapes_panoptic_{split}.json     the COCO-panoptic ground truth
    {root}/gtFine/cityscapes_panoptic_{split}/         its PNGs
    {root}/leftImg8bit/{split}/                        the images, flat or one folder per city
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from panoptic_metrics import PanopticInputError
from panoptic_metrics.io import safe_join

from .runs import RunData


@dataclass(frozen=True)
class GroundTruthPaths:
    """The three places the panels read from; `images` may be None (panels without photos)."""

    json: Path
    png_folder: Path
    images: Path | None


def _data_root(run: RunData) -> Path | None:
    data = (run.config or {}).get("data")
    root = data.get("root") if isinstance(data, Mapping) else None
    if not isinstance(root, str) or not root:
        return None
    path = Path(root)
    # A relative root is relative to where the run was started; try the run's parent too.
    for candidate in (path, run.path.parent / path, run.path.parent.parent / path):
        if candidate.is_dir():
            return candidate
    return path


def _split(run: RunData) -> str:
    split = run.split
    data = (run.config or {}).get("data")
    if not isinstance(split, str) and isinstance(data, Mapping):
        split = data.get("val_split", data.get("split"))
    return split if isinstance(split, str) and split.isalnum() else "val"


def locate(
    runs: Sequence[RunData],
    gt_json: Path | None = None,
    gt_folder: Path | None = None,
    images: Path | None = None,
) -> GroundTruthPaths:
    """The ground truth of the runs' evaluated split; PanopticInputError when it is not found."""
    if gt_json is not None:
        folder = gt_folder if gt_folder is not None else gt_json.with_suffix("")
        return GroundTruthPaths(gt_json, folder, images)
    for run in runs:
        root = _data_root(run)
        if root is None:
            continue
        split = _split(run)
        js = root / "gtFine" / f"cityscapes_panoptic_{split}.json"
        if js.is_file():
            pics = images if images is not None else root / "leftImg8bit" / split
            return GroundTruthPaths(js, js.with_suffix(""), pics if pics.is_dir() else None)
    raise PanopticInputError(
        "config.json",
        "no ground truth found: no run's config.json names a `data.root` holding "
        "gtFine/cityscapes_panoptic_<split>.json; pass --gt-json/--gt-folder/--images",
    )


def image_files(paths: GroundTruthPaths) -> dict[str, Path]:
    """Image id -> photo path, from the ground truth's `images` list (missing ones left out)."""
    if paths.images is None:
        return {}
    try:
        entries = json.loads(paths.json.read_text(encoding="utf-8")).get("images", [])
    except (OSError, ValueError, AttributeError) as err:
        raise PanopticInputError(str(paths.json), f"unreadable ({err})") from None
    out: dict[str, Path] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, Mapping):
            continue
        name = entry.get("file_name")
        flat = safe_join(paths.images, name, source=str(paths.json))
        city = paths.images / str(name).split("_")[0] / str(name)
        for candidate in (flat, city):
            if candidate.is_file() and candidate.resolve().is_relative_to(paths.images.resolve()):
                out[str(entry.get("id"))] = candidate
                break
    return out
