"""Dataset categories and the model's contiguous class indices (docs/contracts.md §1).

A dataset names its classes with a COCO-panoptic `categories` list (its own category ids);
the model works with contiguous indices, stuff first, then things, each in the dataset's
order. `ClassMapping` is the one place that translates between the two.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

IGNORE_INDEX = 255  # contracts §1: the ignore index of semantic targets


@dataclass(frozen=True)
class Category:
    """One evaluated class, as a COCO-panoptic `categories` entry describes it."""

    id: int
    name: str
    isthing: bool
    color: tuple[int, int, int] = (0, 0, 0)
    supercategory: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "isthing": int(self.isthing),
            "color": list(self.color),
            "supercategory": self.supercategory,
        }


@dataclass(frozen=True)
class ClassMapping:
    """Category ids <-> contiguous class indices (stuff first, then things).

    Attributes:
        categories: the categories in contiguous order: `categories[i]` is class index `i`.
    """

    categories: tuple[Category, ...]

    def __post_init__(self) -> None:
        ids = [c.id for c in self.categories]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate category ids in {sorted(ids)}")
        if any(i < 0 for i in ids):
            raise ValueError(f"category ids must be >= 0, got {sorted(ids)}")
        if len(ids) >= IGNORE_INDEX:
            raise ValueError(f"at most {IGNORE_INDEX - 1} classes, got {len(ids)}")
        flags = [c.isthing for c in self.categories]
        if flags != sorted(flags):
            raise ValueError("categories must be in contiguous order: stuff first, then things")

    @classmethod
    def from_coco(
        cls, categories: Sequence[Mapping[str, Any]], *, source: str = ""
    ) -> ClassMapping:
        """Build from a COCO-panoptic `categories` list, keeping the dataset's order per kind."""
        parsed = []
        for k, entry in enumerate(categories):
            try:
                color = tuple(int(v) for v in entry.get("color", (0, 0, 0)))
                parsed.append(
                    Category(
                        id=int(entry["id"]),
                        name=str(entry["name"]),
                        isthing=bool(entry["isthing"]),
                        color=(color[0], color[1], color[2]) if len(color) == 3 else (0, 0, 0),
                        supercategory=str(entry.get("supercategory", "")),
                    )
                )
            except (KeyError, TypeError, ValueError) as err:
                where = f"{source}: " if source else ""
                raise ValueError(
                    f"{where}categories[{k}] is not a COCO-panoptic category "
                    f"(needs id, name, isthing): {entry!r}"
                ) from err
        stuff = [c for c in parsed if not c.isthing]
        things = [c for c in parsed if c.isthing]
        return cls(tuple(stuff + things))

    @property
    def n_classes(self) -> int:
        return len(self.categories)

    @property
    def n_stuff(self) -> int:
        return sum(not c.isthing for c in self.categories)

    @property
    def n_things(self) -> int:
        return sum(c.isthing for c in self.categories)

    @property
    def category_ids(self) -> tuple[int, ...]:
        """Category id of each class index."""
        return tuple(c.id for c in self.categories)

    def class_index(self, category_id: int) -> int:
        """The contiguous class index of a category id; KeyError if it is not evaluated."""
        for k, c in enumerate(self.categories):
            if c.id == category_id:
                return k
        raise KeyError(category_id)

    def is_thing_index(self, class_index: int) -> bool:
        return class_index >= self.n_stuff

    def lookup_table(self) -> np.ndarray:
        """int64 array over category ids 0..max: the class index, or IGNORE_INDEX if unknown."""
        table = np.full(max(self.category_ids, default=0) + 1, IGNORE_INDEX, dtype=np.int64)
        table[list(self.category_ids)] = np.arange(self.n_classes)
        return table

    def to_coco(self) -> list[dict[str, Any]]:
        """The categories as a COCO-panoptic list, in contiguous order."""
        return [c.to_json() for c in self.categories]
