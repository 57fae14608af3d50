"""Inflate a PNG's zlib stream in blocks of whole rows, with the fastest zlib available.

zlib-ng (the `fast` extra) inflates segment-id PNGs about 20 times faster than CPython's zlib
(benchmark/README.md); CPython's zlib is always there. Blocks of a few dozen rows stay small
enough for the allocator to reuse their memory, so no image-sized buffer is allocated per image.
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


def inflate_rows(
    stream: bytes, row_bytes: int, nrows: int, block_rows: int, module: ModuleType, name: str
) -> Iterator[tuple[int, bytes]]:
    """Yield `(first_row, data)` blocks of whole filtered rows (filter byte + `row_bytes`).

    The zlib trailer (Adler-32 checksum) is checked after the last row; data after the image
    is ignored, as libpng does.

    Raises:
        PngError: corrupt compressed data, or fewer rows than the header declares.
    """
    stride = row_bytes + 1
    inflater = module.decompressobj()
    tail = stream
    row = 0
    try:
        while row < nrows:
            count = min(block_rows, nrows - row)
            block = inflater.decompress(tail, count * stride)
            tail = inflater.unconsumed_tail
            if len(block) != count * stride:  # the whole stream was given: it ended early
                got = row + len(block) // stride
                raise PngError(name, f"truncated image data: {got} of {nrows} rows")
            yield row, block
            row += count
        if not inflater.eof:
            inflater.decompress(tail, 1 << 16)  # reads the checksum; extra rows are ignored
            if not inflater.eof and not inflater.unconsumed_tail:
                raise PngError(name, "truncated image data: the zlib stream has no end")
    except module.error as error:
        raise PngError(name, f"corrupt image data (zlib: {error})") from error
