"""Plain-Python twins of the decoder's kernels, written from the PNG specification; for tests.

Slow (a Python loop per byte) and independent of `kernels/png.py` on purpose: it undoes the
filters byte by byte as §9 of the specification states them, then reads the ids.
"""

from __future__ import annotations

import zlib

import numpy as np

from .format import PALETTE, RGB, RGBA, PngFile


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def unfilter(filtered: bytes, row_bytes: int, height: int, unit: int) -> np.ndarray:
    """The (height, row_bytes) unfiltered bytes of a non-interlaced image's filtered rows."""
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


def ids(png: PngFile) -> np.ndarray:
    """The int64 segment ids of a parsed 8-bit RGB/RGBA or palette PNG (not interlaced)."""
    header = png.header
    rows = unfilter(zlib.decompress(png.idat), header.row_bytes, header.height, header.filter_unit)
    if header.color_type in (RGB, RGBA):
        pixels = rows.reshape(header.height, header.width, header.channels).astype(np.int64)
        return pixels[..., 0] + 256 * pixels[..., 1] + 65536 * pixels[..., 2]
    assert header.color_type == PALETTE
    assert png.palette is not None
    bits = np.unpackbits(rows, axis=1).reshape(header.height, -1, header.bit_depth)
    weights = 1 << np.arange(header.bit_depth - 1, -1, -1)
    index = (bits * weights).sum(axis=-1)[:, : header.width]
    colors = png.palette.astype(np.int64)
    result: np.ndarray = colors[index, 0] + 256 * colors[index, 1] + 65536 * colors[index, 2]
    return result
