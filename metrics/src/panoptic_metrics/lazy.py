"""A read-only sequence whose items are built when read: per-image results, a dataset's segments
and its image pairs take no Python object per item until one is looked at."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar, overload

T = TypeVar("T")


class LazyRows(Sequence[T]):
    """A read-only sequence whose items are built from arrays when read (`_item`), so that
    per-image results take no Python object per image until they are looked at; equal to
    any sequence with equal items, as the tuple it stands for would be."""

    def __init__(self, n: int):
        self._n = n

    def _item(self, i: int) -> T:
        raise NotImplementedError

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[T, ...]: ...

    def __getitem__(self, index: int | slice) -> T | tuple[T, ...]:
        if isinstance(index, slice):
            return tuple(self._item(i) for i in range(*index.indices(self._n)))
        return self._item(range(self._n)[index])

    def __iter__(self) -> Iterator[T]:
        return (self._item(i) for i in range(self._n))

    def __eq__(self, other: object) -> bool:
        if other is self:
            return True
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self)!r})"
