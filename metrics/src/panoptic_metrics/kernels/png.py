"""Numba kernels of the PNG decoder: undo the row filters and produce segment ids in one pass.

An 8-bit RGB(A) pixel is handled as one packed integer `R + 256 G + 65536 B`, which is its
COCO-panoptic segment id. The PNG filters (specification §9) add a predictor to each byte,
modulo 256; on packed pixels that is a carry-less byte-wise addition (`_add_bytes`). In a
segment map most pixels equal their left and upper neighbours, and then every predictor is
that neighbour, so the common case is a compare and a copy; the byte-wise predictors are
computed only where colours change. The previous row is read back from the id output, so the
unfiltered image never exists as bytes. Alpha bytes are skipped: each channel's filtering
depends on that channel only.

Palette and other layouts go through the plain byte-wise `unfilter_row` and a palette lookup.
The plain-Python twins of these kernels are in `png/reference.py`, written from the PNG
specification. (The RGB -> ids pass of a decoded image is `kernels.rgb_to_ids`.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numpy as np
from numba import njit

# np.int64, typed for mypy as returning a Python int (numba sees np.int64 itself).
_i64 = cast("Callable[[object], int]", np.int64)

NONE, SUB, UP, AVERAGE, PAETH = 0, 1, 2, 3, 4

_LOW7 = 0x7F7F7F
_HIGH = 0x808080
_NOT_LOW = 0xFEFEFE


@njit(cache=True, nogil=True, inline="always")
def _add_bytes(x: int, v: int) -> int:
    """Byte-wise (x + v) mod 256 of two packed 24-bit pixels."""
    return ((x & _LOW7) + (v & _LOW7)) ^ ((x ^ v) & _HIGH)


@njit(cache=True, nogil=True, inline="always")
def _average_bytes(a: int, b: int) -> int:
    """Byte-wise floor((a + b) / 2) of two packed 24-bit pixels."""
    return (a & b) + (((a ^ b) & _NOT_LOW) >> 1)


@njit(cache=True, nogil=True, inline="always")
def _paeth(a: int, b: int, c: int) -> int:
    """The Paeth predictor of each byte of packed pixels (left a, up b, upper-left c)."""
    if b == c:  # pa = |b - c| = 0: every byte predicts a
        return a
    if a == b:  # pa = pb = |a - c| <= pc = 2 |a - c|
        return a
    if a == c:  # pb = 0 <= pc, and pa = |b - c| > 0 for some byte: b where it differs
        return b
    out = 0
    for shift in (0, 8, 16):
        ab = (a >> shift) & 0xFF
        bb = (b >> shift) & 0xFF
        cb = (c >> shift) & 0xFF
        pa = abs(bb - cb)
        pb = abs(ab - cb)
        pc = abs(ab + bb - 2 * cb)
        if pa <= pb and pa <= pc:
            out |= ab << shift
        elif pb <= pc:
            out |= bb << shift
        else:
            out |= cb << shift
    return out


@njit(cache=True, nogil=True, inline="always")
def _pixel(pixels: np.ndarray, x: int) -> int:
    """The packed colour bytes of pixel x of a (width, 3 or 4) row."""
    return _i64(pixels[x, 0]) | (_i64(pixels[x, 1]) << 8) | (_i64(pixels[x, 2]) << 16)


@njit(cache=True, nogil=True)
def _gather(pixels: np.ndarray, packed: np.ndarray) -> None:
    """packed[x] = the colour bytes of pixel x, packed (a loop LLVM vectorises)."""
    for x in range(packed.shape[0]):
        packed[x] = (
            np.uint32(pixels[x, 0])
            | (np.uint32(pixels[x, 1]) << np.uint32(8))
            | (np.uint32(pixels[x, 2]) << np.uint32(16))
        )


@njit(cache=True, nogil=True)
def _unfilter_row_ids(
    kind: int, pixels: np.ndarray, prev: np.ndarray, row: np.ndarray, packed: np.ndarray
) -> None:
    """One row: `pixels` (width, 3 or 4) filtered bytes, `prev` the ids above, into `row`."""
    width = row.shape[0]
    if kind == NONE:
        _gather(pixels, packed)
        row[:] = packed
    elif kind == UP:  # independent pixels: gather, then a vectorised byte-wise addition
        _gather(pixels, packed)
        for x in range(width):
            above = np.uint32(prev[x])
            delta = packed[x]
            row[x] = ((above & np.uint32(_LOW7)) + (delta & np.uint32(_LOW7))) ^ (
                (above ^ delta) & np.uint32(_HIGH)
            )
    elif kind == SUB:
        a = 0
        for x in range(width):
            v = _pixel(pixels, x)
            if v != 0:
                a = _add_bytes(a, v)
            row[x] = a
    elif kind == AVERAGE:
        a = 0
        for x in range(width):
            v = _pixel(pixels, x)
            b = _i64(prev[x])
            a = _add_bytes(a if a == b else _average_bytes(a, b), v)
            row[x] = a
    else:  # PAETH
        a = 0
        c = 0
        for x in range(width):
            v = _pixel(pixels, x)
            b = _i64(prev[x])
            if v != 0 or b != c:  # else the predictor is a and nothing is added
                a = _add_bytes(_paeth(a, b, c), v)
            row[x] = a
            c = b


@njit(cache=True, nogil=True)
def rgb_rows_to_ids(
    data: np.ndarray, nrows: int, row0: int, pixel_bytes: int, zero: np.ndarray, out: np.ndarray
) -> int:
    """Unfilter `nrows` rows of 8-bit RGB or RGBA data straight into segment ids.

    Args:
        data: uint8, `nrows` filtered rows of `1 + width * pixel_bytes` bytes each.
        nrows: number of rows in `data`.
        row0: the image row of the first row in `data`; rows above it are already in `out`.
        pixel_bytes: 3 for RGB, 4 for RGBA (alpha is ignored).
        zero: a row of `width` zeros of `out`'s dtype, the row above the image.
        out: (height, width) integer ids; rows `row0 .. row0 + nrows - 1` are written.

    Returns:
        -1 on success, else the index (in `data`) of the first row with an invalid filter type.
    """
    width = out.shape[1]
    stride = 1 + width * pixel_bytes
    packed = np.empty(width, dtype=np.uint32)
    for r in range(nrows):
        y = row0 + r
        base = r * stride
        kind = data[base]
        if kind > PAETH:
            return r
        pixels = data[base + 1 : base + stride].reshape((width, pixel_bytes))
        _unfilter_row_ids(kind, pixels, out[y - 1] if y > 0 else zero, out[y], packed)
    return -1


@njit(cache=True, nogil=True)
def unfilter_row(kind: int, raw: np.ndarray, prev: np.ndarray, cur: np.ndarray, unit: int) -> bool:
    """Undo one row's filter byte by byte (any layout); False for an invalid filter type.

    Args:
        kind: the row's filter type byte.
        raw: uint8, the filtered row without its filter byte.
        prev: uint8, the previous unfiltered row (zeros above the first row).
        cur: uint8, receives the unfiltered row.
        unit: the predictor distance in bytes (the specification's `bpp`).
    """
    n = raw.shape[0]
    if kind == NONE:
        cur[:] = raw
    elif kind == SUB:
        for i in range(n):
            cur[i] = raw[i] + (cur[i - unit] if i >= unit else 0)
    elif kind == UP:
        for i in range(n):
            cur[i] = raw[i] + prev[i]
    elif kind == AVERAGE:
        for i in range(n):
            a = _i64(cur[i - unit]) if i >= unit else 0
            cur[i] = raw[i] + ((a + _i64(prev[i])) >> 1)
    elif kind == PAETH:
        for i in range(n):
            a = _i64(cur[i - unit]) if i >= unit else 0
            b = _i64(prev[i])
            c = _i64(prev[i - unit]) if i >= unit else 0
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            pred = a if (pa <= pb and pa <= pc) else (b if pb <= pc else c)
            cur[i] = raw[i] + pred
    else:
        return False
    return True


@njit(cache=True, nogil=True)
def palette_row_to_ids(row: np.ndarray, bit_depth: int, colors: np.ndarray, out: np.ndarray) -> int:
    """Map one unfiltered row of palette indices to the ids of their colours.

    Args:
        row: uint8, the unfiltered row (indices packed `8 // bit_depth` to a byte, high first).
        bit_depth: 1, 2, 4 or 8.
        colors: int64 ids of the palette entries.
        out: the row of ids to write.

    Returns:
        -1, or the first index that is not in the palette.
    """
    per_byte = 8 // bit_depth
    mask = (1 << bit_depth) - 1
    for x in range(out.shape[0]):
        shift = 8 - bit_depth * (x % per_byte + 1)
        index = (_i64(row[x // per_byte]) >> shift) & mask
        if index >= colors.shape[0]:
            return index
        out[x] = colors[index]
    return -1
