"""Named groups of classes for PQ per group (docs/metrics.md, "PQ per class group"): the
Cityscapes categories, or a user's JSON mapping {group: [category ids]}, checked against the
evaluated category set."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .categories import CategorySet
from .checks import is_int, is_text, show
from .errors import PanopticInputError
from .io import read_json

# The Cityscapes label table's `category` of each evaluated label id (cityscapesscripts'
# helpers/labels.py, labels without ignoreInEval), embedded so that cityscapesscripts stays
# optional; tests/metrics/test_groups.py checks it against that table.
CITYSCAPES_GROUPS: Mapping[str, tuple[int, ...]] = {
    "flat": (7, 8),  # road, sidewalk
    "construction": (11, 12, 13),  # building, wall, fence
    "object": (17, 19, 20),  # pole, traffic light, traffic sign
    "nature": (21, 22),  # vegetation, terrain
    "sky": (23,),
    "human": (24, 25),  # person, rider
    "vehicle": (26, 27, 28, 31, 32, 33),  # car, truck, bus, train, motorcycle, bicycle
}


def cityscapes_groups() -> dict[str, tuple[int, ...]]:
    """The seven Cityscapes categories as groups of the 19 evaluated label ids."""
    return dict(CITYSCAPES_GROUPS)


def check_groups(
    groups: Any, categories: CategorySet, *, source: str = "groups"
) -> dict[str, tuple[int, ...]]:
    """`groups` as {name: category ids}, checked: an object of non-empty lists of distinct
    category ids of `categories` (a class may sit in several groups).

    Raises:
        PanopticInputError naming `source`: anything else.
    """
    if not isinstance(groups, Mapping):
        raise PanopticInputError(
            source, f"expected an object {{group: [category ids]}}, got {show(groups)}"
        )
    known = set(categories.ids.tolist())
    out: dict[str, tuple[int, ...]] = {}
    for name, ids in groups.items():
        if not is_text(name) or not name:
            raise PanopticInputError(source, f"group name {show(name)} is not a non-empty text")
        if not isinstance(ids, list | tuple) or not ids:
            raise PanopticInputError(
                source, f"group {name!r} is not a non-empty list of category ids: {show(ids)}"
            )
        bad = [v for v in ids if not is_int(v)]
        if bad:
            raise PanopticInputError(source, f"group {name!r} has non-integer ids {show(bad)}")
        values = tuple(int(v) for v in ids)
        if len(set(values)) != len(values):
            raise PanopticInputError(source, f"group {name!r} lists an id twice: {list(values)}")
        unknown = sorted(set(values) - known)
        if unknown:
            raise PanopticInputError(
                source,
                f"group {name!r} has unknown category ids {unknown} "
                "(not in the evaluated category set)",
            )
        out[name] = values
    return out


def load_groups(
    path: str | os.PathLike[str], categories: CategorySet
) -> dict[str, tuple[int, ...]]:
    """The groups of a JSON file {group: [category ids]}, checked by `check_groups`."""
    return check_groups(read_json(path), categories, source=str(path))
