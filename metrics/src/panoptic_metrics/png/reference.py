"""Plain-Python twins of the decoder's kernels, written from the PNG specification; for tests.

Slow (a Python loop per byte) and independent of `kernels/png.py` on purpose: it undoes the
filters byte by byte as §9 of the specification states them, then reads the ids.
"""

from __future__ import annotations

import zlib

import numpy as np

from .format import GREY, PALETTE, RGB, RGBA, PngFile


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def unfilter(filtered: bytes, row_bytes: int, height: int, unit: int) -> np.ndarray:
    """The (height, row_bytes) unfiltered bytes of the filtered rows of an image or a pass."""
    out = np.zeros((height, row_bytes), dtype=np.uint8)
    prev = [0] * row_bytes
    for y in range(height):
        kind = filtered[y * (row_bytes + 1)]
        raw = filtered[y * (row_bytes + 1) + 1 : (y + 1) * (row_bytes + 1)]
        cur = [0] * row_bytes
        for i in range(row_bytes):
            a = cur[i - unit] if i >= unit else 0
            b = prev[i]
            c = prev[i - unit] if i >= unit else 0
            predictor = {0: 0, 1: a, 2: b, 3: (a + b) // 2, 4: _paeth(a, b, c)}[kind]
            cur[i] = (raw[i] + predictor) % 256
        out[y] = cur
        prev = cur
    return out


def _values(rows: np.ndarray, png: PngFile, width: int) -> np.ndarray:
    """The int64 values of (n, row_bytes) unfiltered rows of `width` pixels."""
    header = png.header
    n = rows.shape[0]
    if header.color_type in (RGB, RGBA):
        pixels = rows.reshape(n, width, header.channels).astype(np.int64)
        return pixels[..., 0] + 256 * pixels[..., 1] + 65536 * pixels[..., 2]
    if header.bit_depth == 16:
        return rows.reshape(n, width, 2).astype(np.int64) @ np.array([256, 1], dtype=np.int64)
    bits = np.unpackbits(rows, axis=1).reshape(n, -1, header.bit_depth)
    weights = 1 << np.arange(header.bit_depth - 1, -1, -1)
    index: np.ndarray = (bits * weights).sum(axis=-1)[:, :width]
    if header.color_type == GREY:
        return index.astype(np.int64)
    assert header.color_type == PALETTE
    assert png.palette is not None
    colors = png.palette.astype(np.int64)
    result: np.ndarray = colors[index, 0] + 256 * colors[index, 1] + 65536 * colors[index, 2]
    return result


def ids(png: PngFile) -> np.ndarray:
    """The int64 values of a parsed PNG: segment ids of 8-bit RGB/RGBA or palette images, the
    samples of 8- or 16-bit greyscale ones; interlaced or not."""
    header = png.header
    stream = zlib.decompress(png.idat)
    out = np.zeros((header.height, header.width), dtype=np.int64)
    for part in header.passes():
        if part.width == 0 or part.height == 0:
            continue
        row_bytes = header.bytes_of(part.width)
        size = part.height * (row_bytes + 1)
        rows = unfilter(stream[:size], row_bytes, part.height, header.filter_unit)
        stream = stream[size:]
        out[part.y0 :: part.dy, part.x0 :: part.dx] = _values(rows, png, part.width)
    return out
