"""Inflate a PNG's zlib stream in blocks of whole rows, with the fastest zlib available.

zlib-ng inflates segment-id PNGs about 20 times faster than CPython's zlib (benchmark/README.md);
it is a dependency wherever it has wheels (CPython on Linux, macOS and Windows, x86-64 and
ARM64: metrics/pyproject.toml), and CPython's zlib is the fallback elsewhere. Blocks of a few
dozen rows stay small enough for the allocator to reuse their memory, so no image-sized buffer
is allocated per image.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType

from .format import PngError

# Name -> module with CPython zlib's interface, fastest first.
_MODULES = {"zlib-ng": "zlib_ng.zlib_ng", "isal": "isal.isal_zlib", "zlib": "zlib"}
# isal is measured in the benchmark but never chosen automatically: zlib-ng is faster.
AUTO_ORDER = ("zlib-ng", "zlib")


def available() -> list[str]:
    """The zlib implementations importable here, in order of preference."""
    names = []
    for name in _MODULES:
        try:
            importlib.import_module(_MODULES[name])
        except ImportError:
            continue
        names.append(name)
    return names


def describe(name: str = "auto") -> str:
    """The zlib implementation that `name` resolves to, with its library version, e.g.
    "zlib-ng 2.3.3" or "CPython zlib 1.2.13".

    Raises:
        ValueError, ImportError: as `zlib_module`.
    """
    module = zlib_module(name)
    if module.__name__ == _MODULES["zlib-ng"]:
        return f"zlib-ng {module.ZLIBNG_VERSION}"
    if module.__name__ == _MODULES["isal"]:
        return f"isal {importlib.import_module('isal').ISAL_VERSION}"
    return f"CPython zlib {module.ZLIB_RUNTIME_VERSION}"


def zlib_module(name: str = "auto") -> ModuleType:
    """The zlib module called `name` ("zlib-ng", "isal", "zlib"), or the fastest for "auto".

    Raises:
        ValueError: an unknown name.
        ImportError: a known implementation that is not installed.
    """
    if name == "auto":
        for candidate in AUTO_ORDER:
            try:
                return importlib.import_module(_MODULES[candidate])
            except ImportError:
                continue
    if name not in _MODULES:
        raise ValueError(f"unknown zlib implementation {name!r}; expected one of {list(_MODULES)}")
    return importlib.import_module(_MODULES[name])


class Inflater:
    """One PNG zlib stream, inflated in blocks of whole rows; `finish` checks its end.

    Interlaced images read the rows of each Adam7 pass in turn from the same stream.
    """

    def __init__(self, stream: bytes, module: ModuleType, name: str) -> None:
        self._inflater = module.decompressobj()
        self._error: type[Exception] = module.error
        self._tail = stream
        self._image_bytes = 0
        self.name = name

    def _decompress(self, max_length: int) -> bytes:
        try:
            out: bytes = self._inflater.decompress(self._tail, max_length)
        except self._error as error:
            raise PngError(self.name, f"corrupt image data (zlib: {error})") from error
        self._tail = self._inflater.unconsumed_tail
        return out

    def rows(
        self, row_bytes: int, nrows: int, block_rows: int, where: str = ""
    ) -> Iterator[tuple[int, bytes]]:
        """Yield `(first_row, data)` blocks of whole filtered rows (filter byte + `row_bytes`).

        Raises:
            PngError: corrupt compressed data, or a stream that ends before the last row.
        """
        stride = row_bytes + 1
        row = 0
        while row < nrows:
            count = min(block_rows, nrows - row)
            block = self._decompress(count * stride)
            if len(block) != count * stride:  # the whole stream was given: it ended early
                got = row + len(block) // stride
                raise PngError(self.name, f"truncated image data: {got} of {nrows} rows{where}")
            self._image_bytes += len(block)
            yield row, block
            row += count

    def finish(self) -> None:
        """Read the stream to its end, checking its Adler-32 checksum.

        Data after the last row is ignored, as libpng does, up to as much as the image itself
        (at least 64 KiB): more is refused rather than inflated without bound.

        Raises:
            PngError: a wrong checksum, a stream without its end, or too much data after it.
        """
        extra, limit = 0, max(self._image_bytes, 1 << 16)
        while not self._inflater.eof:
            before = len(self._tail)
            out = self._decompress(1 << 16)
            extra += len(out)
            if self._inflater.eof:
                break
            if not out and len(self._tail) == before:  # no input left that could end it
                raise PngError(self.name, "truncated image data: the zlib stream has no end")
            if extra > limit:
                raise PngError(
                    self.name, f"corrupt image data: more than {limit} bytes after the last row"
                )


def inflate_rows(
    stream: bytes, row_bytes: int, nrows: int, block_rows: int, module: ModuleType, name: str
) -> Iterator[tuple[int, bytes]]:
    """Yield `(first_row, data)` blocks of whole filtered rows (filter byte + `row_bytes`) of a
    non-interlaced image, then check the end of the stream (`Inflater.finish`).

    Raises:
        PngError: corrupt compressed data, fewer rows than the header declares, a wrong
            checksum or a stream without its end.
    """
    inflater = Inflater(stream, module, name)
    yield from inflater.rows(row_bytes, nrows, block_rows)
    inflater.finish()
