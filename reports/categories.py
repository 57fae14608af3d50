"""The evaluated classes of the runs and their colours.

The classes are those of each run's results (panoptic_metrics' `CategorySet`, rebuilt from
metrics.json `per_class` with its `name` and `isthing`), shown stuff first, then things, each
in the evaluation's order. Colours come from the `categories` of the runs'
predictions/panoptic.json (COCO-panoptic form, docs/contracts.md §1), where given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from panoptic_metrics import Category

from .runs import RunData

RGB = tuple[int, int, int]


def run_categories(runs: Sequence[RunData]) -> list[Category]:
    """The classes of the runs' results, stuff first then things."""
    found: dict[int, Category] = {}
    for run in runs:
        if run.results is not None:
            for category in run.results.categories.categories:
                found.setdefault(category.id, category)
    ordered = list(found.values())
    return [c for c in ordered if not c.isthing] + [c for c in ordered if c.isthing]


def _colour(value: Any) -> RGB | None:
    if (
        isinstance(value, list | tuple)
        and len(value) == 3
        and all(isinstance(c, int) and 0 <= c < 256 for c in value)
    ):
        return (int(value[0]), int(value[1]), int(value[2]))
    return None


def category_colours(runs: Sequence[RunData]) -> dict[int, RGB]:
    """Category id -> RGB colour from the runs' predictions/panoptic.json (first run wins)."""
    colours: dict[int, RGB] = {}
    for run in runs:
        path = run.path / "predictions" / "panoptic.json"
        try:
            entries = json.loads(path.read_text(encoding="utf-8")).get("categories")
        except (OSError, ValueError, AttributeError):
            continue
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, Mapping) and isinstance(entry.get("id"), int):
                colour = _colour(entry.get("color"))
                if colour is not None:
                    colours.setdefault(int(entry["id"]), colour)
    return colours
