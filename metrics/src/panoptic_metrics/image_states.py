"""The per-image states of an evaluation as a few flat arrays, not a Python object per image.

One row per (image, class the image touches): its dense class index, its six PQ/PQ† sums,
its error-cause counts (int32) and, with Boundary PQ, its four Boundary PQ sums (that buffer
exists only once an image has them); `offsets` marks where each image's rows start. Rows are
appended into buffers that double when full, so adding an image costs no allocation most of the
time. A row is 96 bytes without Boundary PQ (4 + 6 x 8 + 11 x 4), so a COCO-like image (~12
classes) takes about 1.2 KB, against 4 KB as an `ImageStats` (benchmark/README.md, "Memory").
An image reads back as the `ImageStats` it was added as, less its histogram and matched-pair
arrays: those are added to the dataset's sums when the image is
(`PanopticAccumulator.add`), and nothing reads them per image afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

import numpy as np

from .boundary import BOUNDARY_COLUMNS
from .kernels import CAUSES
from .matching import SUM_COLUMNS, ImageStats
from .segmentation import ImageId


class ImageStates(Sequence[ImageStats]):
    """Per-image states in flat arrays (see the module docstring); a `Sequence[ImageStats]`."""

    def __init__(self, images: Iterable[ImageStats] = ()):
        self.image_ids: list[ImageId | None] = []
        self._n_rows = 0
        self._offsets = np.zeros(1, np.int64)
        self._classes = np.zeros(0, np.int32)
        self._sums = np.zeros((0, len(SUM_COLUMNS)), np.float64)
        self._errors = np.zeros((0, len(CAUSES)), np.int32)  # counts
        self._boundary = np.zeros((0, len(BOUNDARY_COLUMNS)), np.float64)  # empty until used
        self._has_errors = np.zeros(0, np.bool_)  # states read from JSON may have none
        self._has_boundary = np.zeros(0, np.bool_)
        for stats in images:
            self.append(stats)

    def __len__(self) -> int:
        return len(self.image_ids)

    @overload
    def __getitem__(self, index: int) -> ImageStats: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[ImageStats]: ...

    def __getitem__(self, index: int | slice) -> ImageStats | Sequence[ImageStats]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = range(len(self))[index]  # IndexError out of range; negative indices count back
        a, b = int(self._offsets[i]), int(self._offsets[i + 1])
        classes = self._classes[a:b].astype(np.int64)
        errors = (self._errors[a:b] if self._has_errors[i] else self._errors[:0]).astype(np.float64)
        return ImageStats(
            image_id=self.image_ids[i],
            classes=classes,
            sums=self._sums[a:b].copy(),
            hist_class=classes[:0],
            hist_bin=classes[:0],
            boundary=self._boundary[a:b].copy() if self._has_boundary[i] else None,
            errors=errors,
        )

    def __iter__(self) -> Iterator[ImageStats]:
        return (self[i] for i in range(len(self)))

    def append(self, stats: ImageStats) -> None:
        """Add one image's state at the end."""
        k = len(stats.classes)
        n, rows = len(self), self._n_rows
        self._reserve(n + 1, rows + k)
        self._classes[rows : rows + k] = stats.classes
        self._sums[rows : rows + k] = stats.sums
        has_errors = stats.errors.shape[0] == k
        if has_errors:
            self._errors[rows : rows + k] = stats.errors
        has_boundary = stats.boundary is not None
        if stats.boundary is not None:
            self._use_boundary()
            self._boundary[rows : rows + k] = stats.boundary
        self._has_errors[n] = has_errors
        self._has_boundary[n] = has_boundary
        self._offsets[n + 1] = rows + k
        self._n_rows = rows + k
        self.image_ids.append(stats.image_id)

    def extend(self, images: Iterable[ImageStats]) -> None:
        """Add every image of `images` (e.g. another `ImageStates`) at the end, in order."""
        if not isinstance(images, ImageStates):
            for stats in images:
                self.append(stats)
            return
        n, rows, k = len(self), self._n_rows, images._n_rows
        m = len(images)
        self._reserve(n + m, rows + k)
        self._classes[rows : rows + k] = images._classes[:k]
        self._sums[rows : rows + k] = images._sums[:k]
        self._errors[rows : rows + k] = images._errors[:k]
        if len(images._boundary):
            self._use_boundary()
            self._boundary[rows : rows + k] = images._boundary[:k]
        self._has_errors[n : n + m] = images._has_errors[:m]
        self._has_boundary[n : n + m] = images._has_boundary[:m]
        self._offsets[n + 1 : n + m + 1] = images._offsets[1 : m + 1] + rows
        self._n_rows = rows + k
        self.image_ids.extend(images.image_ids)

    def _reserve(self, images: int, rows: int) -> None:
        """Room for `images` images of `rows` rows in all: each buffer that is too small is
        at least doubled."""
        if rows > len(self._classes):
            size = max(64, 2 * len(self._classes), rows)
            self._classes = _resized(self._classes, size)
            self._sums = _resized(self._sums, size)
            self._errors = _resized(self._errors, size)
            if len(self._boundary):
                self._boundary = _resized(self._boundary, size)
        if images >= len(self._offsets):  # offsets hold images + 1 entries
            size = max(16, 2 * len(self._offsets), images + 1)
            self._offsets = _resized(self._offsets, size)
            self._has_errors = _resized(self._has_errors, size)
            self._has_boundary = _resized(self._has_boundary, size)

    def _use_boundary(self) -> None:
        """The Boundary PQ buffer at the others' capacity, from the first image that has them."""
        if len(self._boundary) < len(self._classes):
            self._boundary = _resized(self._boundary, len(self._classes))

    def rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every image's rows at once: the image of each row (int64), its dense class (int64)
        and its (rows, 6) sums, in image order (read-only views)."""
        owner = np.repeat(np.arange(len(self)), np.diff(self._offsets[: len(self) + 1]))
        return owner, self._classes[: self._n_rows].astype(np.int64), self._view(self._sums)

    def error_rows(self) -> np.ndarray:
        """The (rows, len(CAUSES)) error counts of `rows()` (zeros for images without any),
        as float64."""
        counts = self._errors[: self._n_rows].astype(np.float64)
        counts.flags.writeable = False
        return counts

    def _view(self, buffer: np.ndarray) -> np.ndarray:
        view = buffer[: self._n_rows]
        view.flags.writeable = False
        return view

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (e.g. gathered across ranks) without the buffers' unused capacity."""
        n, rows = len(self), self._n_rows
        state = dict(self.__dict__)
        for key in ("_classes", "_sums", "_errors", "_boundary"):
            state[key] = state[key][:rows].copy()  # an unused _boundary stays empty
        for key in ("_has_errors", "_has_boundary"):
            state[key] = state[key][:n].copy()
        state["_offsets"] = state["_offsets"][: n + 1].copy()
        return state


def as_states(images: Sequence[ImageStats]) -> ImageStates:
    """`images` as `ImageStates` (itself when it is one)."""
    return images if isinstance(images, ImageStates) else ImageStates(images)


def _resized(array: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros((size, *array.shape[1:]), array.dtype)
    out[: min(size, len(array))] = array[:size]
    return out
