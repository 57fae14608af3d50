"""The model's contiguous class indices over a dataset's categories (docs/contracts.md §1).

A dataset names its classes with panoptic_metrics' `CategorySet` (its own category ids, as the
evaluation reads them); the model works with contiguous indices (train ids): stuff first, then
things, each in the set's order, which is `CategorySet.contiguous_ids`. `ClassMapping` is the
one place that translates between the two.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from panoptic_metrics import CategorySet

IGNORE_INDEX = 255  # contracts §1: the ignore index of semantic targets


@dataclass(frozen=True)
class ClassMapping:
    """Category ids <-> contiguous class indices, a view over `categories`.

    Attributes:
        categories: the dataset's evaluated categories (names, thing flags, colours).
        category_ids: the category id of each class index: `CategorySet.contiguous_ids`.
    """

    categories: CategorySet
    category_ids: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _class_of: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.categories) >= IGNORE_INDEX:
            raise ValueError(f"at most {IGNORE_INDEX - 1} classes, got {len(self.categories)}")
        ids = self.categories.contiguous_ids
        class_of = np.empty(len(ids), dtype=np.int64)  # set index -> class index
        class_of[self.categories.index_of(np.array(ids), source="categories")] = range(len(ids))
        object.__setattr__(self, "category_ids", ids)
        object.__setattr__(self, "_class_of", class_of)

    @property
    def n_classes(self) -> int:
        return len(self.categories)

    @property
    def n_things(self) -> int:
        return len(self.categories.thing_ids)

    @property
    def n_stuff(self) -> int:
        return self.n_classes - self.n_things

    def class_index(self, category_id: int) -> int:
        """The contiguous class index of a category id; KeyError if it is not evaluated."""
        if category_id not in self.category_ids:
            raise KeyError(category_id)
        return self.category_ids.index(category_id)

    def class_indices(self, category_ids: np.ndarray, *, source: str) -> np.ndarray:
        """The class index of each category id (PanopticInputError naming `source` for an id
        outside the set)."""
        indices: np.ndarray = self._class_of[self.categories.index_of(category_ids, source=source)]
        return indices

    def is_thing_index(self, class_index: int) -> bool:
        return class_index >= self.n_stuff
