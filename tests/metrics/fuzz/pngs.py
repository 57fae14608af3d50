"""Valid PNGs of every layout the decoders meet, kept in parts so each family can edit one.

A `Png` holds the IHDR fields, the palette, the filtered data stream (filter byte + row of
every row of every pass) and the chunks around the image data; `to_bytes` assembles a file
with correct CRCs, so an edit reaches the check it is aimed at.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field, replace

import numpy as np
from hypothesis import strategies as st

from tests.metrics.png import png_files

# (colour type, bit depth) of every layout: the accepted ones (RGB, RGBA, palette, the
# greyscale of label maps) and some refused ones (16-bit colour, grey+alpha, 1-bit grey).
LAYOUTS = [(2, 8), (6, 8), (3, 1), (3, 2), (3, 4), (3, 8), (0, 8), (0, 16)]
REFUSED_LAYOUTS = [(2, 16), (6, 16), (4, 8), (0, 1)]
FILTERS: list[int | str] = ["mixed", 0, 1, 2, 3, 4]  # a filter type on every row, or mixed


@dataclass(frozen=True)
class Png:
    width: int
    height: int
    bit_depth: int
    color_type: int
    interlace: int
    palette: bytes | None
    filtered: bytes  # the uncompressed data stream
    level: int = 6
    pieces: tuple[int, ...] = ()  # cut points of the zlib stream into IDAT chunks
    before_idat: tuple[tuple[bytes, bytes], ...] = ()
    after_idat: tuple[tuple[bytes, bytes], ...] = ()
    ihdr_fields: tuple[int, ...] = field(default=())  # overrides (compression, filter) if set

    def header_body(self) -> bytes:
        compression, filtering = self.ihdr_fields or (0, 0)
        return struct.pack(
            ">IIBBBBB",
            self.width,
            self.height,
            self.bit_depth,
            self.color_type,
            compression,
            filtering,
            self.interlace,
        )

    def stream(self) -> bytes:
        return zlib.compress(self.filtered, self.level)

    def chunks(self, stream: bytes | None = None) -> list[tuple[bytes, bytes]]:
        """The file's chunks, in order, from IHDR to IEND."""
        data = self.stream() if stream is None else stream
        cuts = sorted(min(c, len(data)) for c in self.pieces)
        idat = [data[i:j] for i, j in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        out = [(b"IHDR", self.header_body())]
        if self.palette is not None:
            out.append((b"PLTE", self.palette))
        out += list(self.before_idat)
        out += [(b"IDAT", piece) for piece in idat]
        out += list(self.after_idat)
        out.append((b"IEND", b""))
        return out

    def to_bytes(self, stream: bytes | None = None) -> bytes:
        return assemble(self.chunks(stream))

    def with_filtered(self, filtered: bytes) -> Png:
        return replace(self, filtered=filtered)


def assemble(chunks: list[tuple[bytes, bytes]]) -> bytes:
    """A PNG file of these chunks, each with its correct CRC."""
    return png_files.SIGNATURE + b"".join(png_files.chunk(kind, body) for kind, body in chunks)


def filter_positions(png: Png) -> list[int]:
    """The offsets of the filter bytes in `png.filtered`, every pass in order."""
    channels = png_files.CHANNELS[png.color_type]
    positions, offset = [], 0
    passes = png_files.ADAM7 if png.interlace else ((0, 0, 1, 1),)
    for x0, y0, dx, dy in passes:
        w = max(0, (png.width - x0 + dx - 1) // dx)
        h = max(0, (png.height - y0 + dy - 1) // dy)
        if w == 0 or h == 0:
            continue
        stride = 1 + (w * channels * png.bit_depth + 7) // 8
        positions += [offset + r * stride for r in range(h)]
        offset += h * stride
    return positions


def _pixels(
    rng: np.random.Generator, h: int, w: int, color_type: int, depth: int, smooth: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    channels = png_files.CHANNELS[color_type]
    top = 2**depth
    if color_type == 3:
        n = int(rng.integers(1, top + 1))
        palette = rng.integers(0, 256, size=(n, 3))
        if smooth:
            return png_files.segment_map(h, w, n, rng), palette
        return rng.integers(0, n, size=(h, w)), palette
    shape = (h, w) if channels == 1 else (h, w, channels)
    if smooth:  # few colours in rectangles: the fast paths of the fused kernel
        colors = rng.integers(0, top, size=(6, *shape[2:]))
        return colors[png_files.segment_map(h, w, 6, rng)], None
    return rng.integers(0, top, size=shape), None


@st.composite
def pngs(
    draw: st.DrawFn,
    layouts: list[tuple[int, int]] | None = None,
    interlace: bool | None = None,
    max_side: tuple[int, int] = (17, 13),
) -> Png:
    """A valid PNG: any layout of `layouts`, 1x1 to 17x13 pixels (so Adam7 passes can be
    empty), interlaced or not, any filter type on each row, the stream cut into IDAT chunks."""
    color_type, depth = draw(st.sampled_from(layouts or LAYOUTS))
    w = draw(st.integers(1, max_side[0]))
    h = draw(st.integers(1, max_side[1]))
    laced = draw(st.booleans()) if interlace is None else interlace
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    pixels, palette = _pixels(rng, h, w, color_type, depth, draw(st.booleans()))
    filters = draw(st.sampled_from(FILTERS))
    data = png_files.encode(
        pixels,
        color_type=color_type,
        bit_depth=depth,
        palette=palette,
        filters=filters,
        interlace=laced,
        seed=int(rng.integers(0, 2**31)),
    )
    stream = zlib.decompress(_idat(data))
    n_pieces = draw(st.integers(0, 3))
    pieces = tuple(draw(st.integers(0, 200)) for _ in range(n_pieces))
    return Png(
        width=w,
        height=h,
        bit_depth=depth,
        color_type=color_type,
        interlace=int(laced),
        palette=None if palette is None else palette.astype(np.uint8).tobytes(),
        filtered=stream,
        level=draw(st.sampled_from([0, 1, 6, 9])),
        pieces=pieces,
    )


def _idat(data: bytes) -> bytes:
    """The joined IDAT data of a file made by `png_files.encode`."""
    pos, out = 8, b""
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        if data[pos + 4 : pos + 8] == b"IDAT":
            out += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return out
