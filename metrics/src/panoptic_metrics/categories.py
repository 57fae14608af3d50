"""The evaluated category set: ids, names and the thing/stuff split, in COCO-panoptic form."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .checks import fits_int64, is_int, is_text, show
from .errors import PanopticInputError


@dataclass(frozen=True)
class Category:
    """One evaluated class: `id` is the dataset's own category id (Cityscapes: the label id).

    `color` is its display colour where the dataset gives one; it takes no part in equality
    (two sets naming the same classes describe the same evaluation).
    """

    id: int
    name: str
    isthing: bool
    color: tuple[int, int, int] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class CategorySet:
    """The classes of an evaluation, in a fixed order that defines the dense class index.

    Segments whose category is not in the set are an error (not silently void): a typo in a
    prediction file must not quietly lower nobody's score.
    """

    categories: tuple[Category, ...]
    _sorted_ids: np.ndarray = field(init=False, repr=False, compare=False)
    _sorted_index: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.categories:
            raise PanopticInputError("categories", "the category set is empty")
        for c in self.categories:
            if not is_int(c.id) or not fits_int64(int(c.id)):
                raise PanopticInputError(
                    "categories", f"category id {show(c.id)} is not a 64-bit integer"
                )
        ids = np.array([c.id for c in self.categories], dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        duplicated = ids[order][1:][np.diff(ids[order]) == 0]
        if duplicated.size:
            raise PanopticInputError(
                "categories", f"duplicate category ids {sorted(set(duplicated.tolist()))}"
            )
        object.__setattr__(self, "_sorted_ids", ids[order])
        object.__setattr__(self, "_sorted_index", order.astype(np.int64))

    @classmethod
    def from_coco(
        cls, items: Iterable[Mapping[str, Any]], *, source: str = "categories"
    ) -> CategorySet:
        """Build from a COCO-panoptic `categories` list (`id`, `name`, `isthing`, and `color`
        where it is three integers in 0..255).

        Raises:
            PanopticInputError: not a list of objects; an id that is not a 64-bit integer, an
                `isthing` other than 0/1, a `name` that is not text; a duplicate id.
        """
        if isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
            raise PanopticInputError(source, f"expected a list of categories, got {show(items)}")
        out = []
        for k, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise PanopticInputError(source, f"category #{k} is not an object: {show(item)}")
            cid, isthing = item.get("id"), item.get("isthing", 0)
            if isinstance(cid, bool) or not isinstance(cid, int) or not fits_int64(cid):
                raise PanopticInputError(
                    source, f"category #{k} has no 64-bit integer id: {show(item)}"
                )
            if isthing not in (0, 1):  # also accepts True/False
                raise PanopticInputError(
                    source, f"category {cid} has isthing={show(isthing)}, expected 0 or 1"
                )
            name = item.get("name", str(cid))
            if not is_text(name):
                raise PanopticInputError(source, f"category {cid} has name={show(name)}")
            out.append(Category(cid, name, bool(isthing), _rgb(item.get("color"))))
        try:
            return cls(tuple(out))
        except PanopticInputError as exc:
            raise PanopticInputError(source, exc.problem) from None

    def to_coco(self) -> list[dict[str, Any]]:
        """The COCO-panoptic `categories` list (with the colours that are known)."""
        return [
            {"id": c.id, "name": c.name, "isthing": int(c.isthing)}
            | ({} if c.color is None else {"color": list(c.color)})
            for c in self.categories
        ]

    def __len__(self) -> int:
        return len(self.categories)

    @property
    def ids(self) -> np.ndarray:
        """(C,) int64 category ids in set order."""
        return np.array([c.id for c in self.categories], dtype=np.int64)

    @property
    def isthing(self) -> np.ndarray:
        """(C,) bool, True for thing classes."""
        return np.array([c.isthing for c in self.categories], dtype=bool)

    @property
    def thing_ids(self) -> tuple[int, ...]:
        """The thing category ids in set order: the model's thing index k is `thing_ids[k]`
        (docs/contracts.md §1), the label order of mask AP."""
        return tuple(c.id for c in self.categories if c.isthing)

    @property
    def contiguous_ids(self) -> tuple[int, ...]:
        """The category id of each contiguous class index: stuff first, then things, each in
        set order (docs/contracts.md §1), the label order of mIoU."""
        stuff = tuple(c.id for c in self.categories if not c.isthing)
        return stuff + self.thing_ids

    def index_of(self, category_ids: np.ndarray, *, source: str) -> np.ndarray:
        """Dense class indices of `category_ids`; an id outside the set is an error."""
        ids = np.asarray(category_ids, dtype=np.int64)
        pos = np.searchsorted(self._sorted_ids, ids)
        pos_clipped = np.minimum(pos, len(self._sorted_ids) - 1)
        unknown = self._sorted_ids[pos_clipped] != ids
        if np.any(unknown):
            bad = sorted(set(ids[unknown].tolist()))
            raise PanopticInputError(
                source, f"unknown category ids {bad} (not in the evaluated category set)"
            )
        return self._sorted_index[pos_clipped]


def _rgb(value: Any) -> tuple[int, int, int] | None:
    """`value` as a colour if it is three integers in 0..255 (display only: else none)."""
    valid = isinstance(value, list | tuple) and len(value) == 3
    if valid and all(type(v) is int and 0 <= v < 256 for v in value):
        return (value[0], value[1], value[2])
    return None
