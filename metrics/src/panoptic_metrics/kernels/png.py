"""Numba kernels of the PNG decoder: undo the row filters and produce segment ids in one pass.

An 8-bit RGB(A) pixel is handled as one packed integer `R + 256 G + 65536 B`, which is its
COCO-panoptic segment id. The PNG filters (specification §9) add a predictor to each byte,
modulo 256; on packed pixels that is a carry-less byte-wise addition (`_add_bytes`). In a
segment map most pixels equal their left and upper neighbours, and then every predictor is
that neighbour, so the common case is a compare and a copy; the byte-wise predictors are
computed only where colours change. The previous row is read back from the id output, so the
unfiltered image never exists as bytes. Alpha bytes are skipped: each channel's filtering
depends on that channel only.

Palette, greyscale and interlaced images go through `rows_to_values`: the plain byte-wise
`unfilter_row`, then a palette lookup or the samples, written to each pass's pixels.
The plain-Python twins of these kernels are in `png/reference.py`, written from the PNG
specification. (The RGB -> ids pass of a decoded image is `kernels.rgb_to_ids`.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numpy as np

from ._cache import njit

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


# No slice assignment (`row[:] = packed`) in these kernels, but loops: numba compiles a slice
# assignment's shape-mismatch error message (string formatting of shapes), which was a third of
# all the kernels' compile time on a first run (2.5 of 9.4 s, numba 0.6x).


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
        for x in range(width):  # not `row[:] = packed`: see the note above `_pixel`
            row[x] = packed[x]
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
        for i in range(n):
            cur[i] = raw[i]
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


# Sample layouts of `rows_to_values`.
RGB_IDS, PALETTE_IDS, GREY8, GREY16 = 0, 1, 2, 3
# Status codes of `rows_to_values`.
ROWS_OK, BAD_FILTER, BAD_PALETTE_INDEX = 0, 1, 2


@njit(cache=True, nogil=True)
def rows_to_values(
    data: np.ndarray,
    nrows: int,
    first: int,
    rows: np.ndarray,
    unit: int,
    layout: int,
    bit_depth: int,
    colors: np.ndarray,
    out: np.ndarray,
    origin: tuple[int, int],
    step: tuple[int, int],
) -> tuple[int, int, int]:
    """Unfilter rows of any layout byte by byte and write their values into `out`.

    The rows belong to one Adam7 pass, or to the whole image (origin (0, 0), step (1, 1)):
    row y of the pass, pixel x, is image pixel `out[y0 + dy * y, x0 + dx * x]`.

    Args:
        data: uint8, `nrows` filtered rows of `1 + rows.shape[1]` bytes each.
        nrows: number of rows in `data`.
        first: the pass row number of the first row in `data`.
        rows: (2, row_bytes) uint8, the previous and the current unfiltered row by parity of
            the pass row number (all zeros when the pass starts: the row above the first).
        unit: the predictor distance in bytes (the specification's `bpp`).
        layout: RGB_IDS (8-bit RGB or RGBA: R + 256 G + 65536 B), PALETTE_IDS (the id of
            the colour of the index), GREY8 or GREY16 (the sample value).
        bit_depth: bits per sample (palette indices: 1, 2, 4 or 8).
        colors: int64 ids of the palette entries (PALETTE_IDS only).
        out: (height, width) integer values of the whole image.
        origin, step: (y0, x0) and (dy, dx) of the pass.

    Returns:
        (ROWS_OK, 0, 0); (BAD_FILTER, index in `data` of the row, its filter type); or
        (BAD_PALETTE_INDEX, image row, the index that is not in the palette).
    """
    y0, x0 = origin
    dy, dx = step
    stride = rows.shape[1] + 1
    width = (out.shape[1] - x0 + dx - 1) // dx
    per_byte = 8 // bit_depth if bit_depth < 8 else 1
    mask = (1 << bit_depth) - 1 if bit_depth < 8 else 0xFF
    for r in range(nrows):
        y = first + r
        prev, cur = rows[(y + 1) % 2], rows[y % 2]
        base = r * stride
        kind = data[base]
        if not unfilter_row(kind, data[base + 1 : base + stride], prev, cur, unit):
            return BAD_FILTER, r, _i64(kind)
        target = out[y0 + dy * y]
        if layout == RGB_IDS:
            for x in range(width):
                i = unit * x
                target[x0 + dx * x] = (
                    _i64(cur[i]) | (_i64(cur[i + 1]) << 8) | (_i64(cur[i + 2]) << 16)
                )
        elif layout == PALETTE_IDS:
            for x in range(width):
                shift = 8 - bit_depth * (x % per_byte + 1)
                index = (_i64(cur[x // per_byte]) >> shift) & mask
                if index >= colors.shape[0]:
                    return BAD_PALETTE_INDEX, y0 + dy * y, index
                target[x0 + dx * x] = colors[index]
        elif layout == GREY8:
            for x in range(width):
                target[x0 + dx * x] = cur[x]
        else:  # GREY16, big-endian
            for x in range(width):
                target[x0 + dx * x] = (_i64(cur[2 * x]) << 8) | _i64(cur[2 * x + 1])
    return ROWS_OK, 0, 0
