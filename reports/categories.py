"""The evaluated classes of the runs: id, name, thing or stuff, colour, in the dataset's order.

Read from the first of: metrics.json `categories`, the run's predictions/panoptic.json
`categories` (COCO-panoptic form, docs/contracts.md §1). Classes that appear in `per_class`
but in neither list are kept with the `name` and `isthing` given there (else named by id).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .runs import RunData


@dataclass(frozen=True)
class Category:
    """One class as the report shows it."""

    id: int
    name: str
    isthing: bool | None  # None: not known
    color: tuple[int, int, int] | None


def _parse(entries: Any) -> list[Category]:
    out: list[Category] = []
    if not isinstance(entries, list):
        return out
    for e in entries:
        if not isinstance(e, Mapping) or not isinstance(e.get("id"), int):
            continue
        colour = e.get("color")
        rgb = (
            (int(colour[0]), int(colour[1]), int(colour[2]))
            if isinstance(colour, list | tuple)
            and len(colour) == 3
            and all(isinstance(c, int) and 0 <= c < 256 for c in colour)
            else None
        )
        isthing = e.get("isthing")
        out.append(
            Category(
                id=int(e["id"]),
                name=str(e.get("name", e["id"])),
                isthing=bool(isthing) if isinstance(isthing, int | bool) else None,
                color=rgb,
            )
        )
    return out


def _from_predictions(run: RunData) -> list[Category]:
    path = run.path / "predictions" / "panoptic.json"
    try:
        return _parse(json.loads(path.read_text(encoding="utf-8")).get("categories"))
    except (OSError, ValueError, AttributeError):
        return []


def _from_per_class(key: int, entry: Any) -> Category:
    """A class known only from `per_class`: its `name` and `isthing` there, if any."""
    entry = entry if isinstance(entry, Mapping) else {}
    isthing = entry.get("isthing")
    return Category(
        key,
        str(entry.get("name", key)),
        bool(isthing) if isinstance(isthing, int | bool) else None,
        None,
    )


def run_categories(runs: Sequence[RunData]) -> list[Category]:
    """The classes of the runs, stuff first then things, each in the dataset's order."""
    found: dict[int, Category] = {}
    for run in runs:
        listed = _parse((run.metrics or {}).get("categories")) or _from_predictions(run)
        for c in listed:
            found.setdefault(c.id, c)
    for run in runs:
        per_class = (run.metrics or {}).get("per_class")
        if isinstance(per_class, Mapping):
            for key, entry in per_class.items():
                if str(key).lstrip("-").isdigit() and int(key) not in found:
                    found[int(key)] = _from_per_class(int(key), entry)
    ordered = list(found.values())
    return [c for c in ordered if not c.isthing] + [c for c in ordered if c.isthing]
