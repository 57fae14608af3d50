"""Hand-made PNG files for the decoder tests: any filter per row, layout, IDAT split, interlace.

An encoder written from the PNG specification with zlib and struct, so the tests can make the
files no ordinary encoder writes (a chosen filter on every row, Adam7 interlacing, 16-bit
colour, corrupt chunks) and compare every decoder path on them.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Adam7 passes (x0, y0, dx, dy), written out here too: this encoder is the decoder's oracle.
ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)


def chunk(kind: bytes, body: bytes) -> bytes:
    """One chunk: length, type, data and CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def ihdr(width: int, height: int, bit_depth: int, color_type: int, interlace: int = 0) -> bytes:
    return chunk(
        b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace)
    )


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def filter_rows(rows: np.ndarray, unit: int, kinds: Sequence[int]) -> bytes:
    """Filter (H, row_bytes) uint8 rows, row y with filter type kinds[y]; the PNG data stream."""
    out = bytearray()
    prev = np.zeros(rows.shape[1], dtype=np.int32)
    for row, kind in zip(rows.astype(np.int32), kinds, strict=True):
        a = np.concatenate([np.zeros(unit, np.int32), row[:-unit]])[: len(row)]
        c = np.concatenate([np.zeros(unit, np.int32), prev[:-unit]])[: len(row)]
        predictor = {
            0: np.zeros_like(row),
            1: a,
            2: prev,
            3: (a + prev) // 2,
            4: _paeth(a, prev, c),
        }.get(kind, np.zeros_like(row))
        out.append(kind)
        out += ((row - predictor) % 256).astype(np.uint8).tobytes()
        prev = row
    return bytes(out)


def pack_rows(pixels: np.ndarray, bit_depth: int) -> np.ndarray:
    """(H, W) or (H, W, C) samples as (H, row_bytes) bytes: packed bits, bytes or big-endian."""
    h = pixels.shape[0]
    samples = pixels.reshape(h, -1)
    if bit_depth == 16:
        return samples.astype(">u2").view(np.uint8).reshape(h, -1)
    if bit_depth == 8:
        return samples.astype(np.uint8)
    bits = (samples[..., None].astype(np.uint8) >> np.arange(bit_depth - 1, -1, -1)) & 1
    return np.packbits(bits.reshape(h, -1).astype(np.uint8), axis=1)


def _kinds(filters: int | str | Sequence[int], n: int, rng: np.random.Generator) -> list[int]:
    if filters == "mixed":
        return [int(k) for k in rng.integers(0, 5, size=n)]
    if isinstance(filters, int):
        return [filters] * n
    return [int(k) for k in filters][:n] + [0] * max(0, n - len(filters))


def encode(
    pixels: np.ndarray,
    *,
    color_type: int,
    bit_depth: int = 8,
    palette: np.ndarray | None = None,
    filters: int | str | Sequence[int] = "mixed",
    idat_pieces: int = 1,
    interlace: bool = False,
    seed: int = 0,
    before_idat: bytes = b"",
) -> bytes:
    """A PNG of `pixels` ((H, W) samples or (H, W, C)), with the given filters and IDAT split."""
    rng = np.random.default_rng(seed)
    h, w = pixels.shape[:2]
    unit = max(1, CHANNELS[color_type] * bit_depth // 8)
    if interlace:
        stream = b""
        for x0, y0, dx, dy in ADAM7:
            sub = pixels[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                rows = pack_rows(sub, bit_depth)
                stream += filter_rows(rows, unit, _kinds(filters, len(rows), rng))
    else:
        rows = pack_rows(pixels, bit_depth)
        stream = filter_rows(rows, unit, _kinds(filters, h, rng))
    data = zlib.compress(stream, 9)
    cuts = sorted(rng.integers(0, len(data) + 1, size=idat_pieces - 1).tolist())
    pieces = [data[i:j] for i, j in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    out = SIGNATURE + ihdr(w, h, bit_depth, color_type, int(interlace))
    if palette is not None:
        out += chunk(b"PLTE", palette.astype(np.uint8).tobytes())
    out += before_idat
    out += b"".join(chunk(b"IDAT", piece) for piece in pieces)
    return out + chunk(b"IEND", b"")


def segment_map(h: int, w: int, n_colors: int, rng: np.random.Generator) -> np.ndarray:
    """(H, W) indices into `n_colors`: rectangles over a background, like a small segment map."""
    index = np.zeros((h, w), dtype=np.int64)
    for k in range(1, n_colors):
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        index[y0 : y0 + rng.integers(1, h + 1), x0 : x0 + rng.integers(1, w + 1)] = k
    return index
