"""The PNG container: signature, chunks, CRCs and the header, validated before any pixel is read.

Only what a segment-id PNG needs is kept: the header (IHDR), the palette (PLTE) and the
compressed image data (the IDAT chunks, joined). Every chunk's CRC is checked. Ancillary
chunks are skipped; an unknown critical chunk is an error, as the PNG specification asks, and
so are APNG's animation chunks.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"

# PNG colour types (PNG specification, §11.2.2) and the channels each stores per pixel.
GREY, RGB, PALETTE, GREY_ALPHA, RGBA = 0, 2, 3, 4, 6
CHANNELS = {GREY: 1, RGB: 3, PALETTE: 1, GREY_ALPHA: 2, RGBA: 4}
COLOR_TYPE_NAMES = {
    GREY: "greyscale",
    RGB: "RGB",
    PALETTE: "palette",
    GREY_ALPHA: "greyscale+alpha",
    RGBA: "RGBA",
}
_BIT_DEPTHS = {
    GREY: (1, 2, 4, 8, 16),
    RGB: (8, 16),
    PALETTE: (1, 2, 4, 8),
    GREY_ALPHA: (8, 16),
    RGBA: (8, 16),
}
_KNOWN_CRITICAL = {b"IHDR", b"PLTE", b"IDAT", b"IEND"}
# APNG's chunks: decoders that know them show the animation's frames, the others the default
# image, so an animated PNG is refused rather than read one way or the other.
_ANIMATION = {b"acTL", b"fcTL", b"fdAT"}
# Adam7 passes (specification §8.2): (x0, y0, dx, dy).
ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)
_CHUNK_HEAD = struct.Struct(">I4s")
_IHDR = struct.Struct(">IIBBBBB")


class PngError(ValueError):
    """A PNG that cannot be decoded to segment ids; the message names the file and the problem."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem

    def __reduce__(self) -> tuple[type[PngError], tuple[str, str]]:
        # Keeps both fields when the error crosses a process boundary (worker -> parent).
        return (type(self), (self.name, self.problem))


@dataclass(frozen=True)
class PngHeader:
    """The IHDR chunk: size, bit depth, colour type and interlace method."""

    width: int
    height: int
    bit_depth: int
    color_type: int
    interlaced: bool

    @property
    def channels(self) -> int:
        return CHANNELS[self.color_type]

    @property
    def row_bytes(self) -> int:
        """Bytes of one unfiltered row of the whole (non-interlaced) image."""
        return self.bytes_of(self.width)

    def bytes_of(self, width: int) -> int:
        """Bytes of one unfiltered row of `width` pixels."""
        return (width * self.channels * self.bit_depth + 7) // 8

    def passes(self) -> list[PngPass]:
        """The image's passes in stream order: the seven Adam7 passes (empty ones included,
        which have no data in the stream), or one pass of the whole image."""
        if not self.interlaced:
            return [PngPass(1, 0, 0, 1, 1, self.height, self.width)]
        return [
            PngPass(
                k + 1,
                y0,
                x0,
                dy,
                dx,
                max(0, (self.height - y0 + dy - 1) // dy),
                max(0, (self.width - x0 + dx - 1) // dx),
            )
            for k, (x0, y0, dx, dy) in enumerate(ADAM7)
        ]

    @property
    def filter_unit(self) -> int:
        """The byte distance of the Sub/Average/Paeth predictors (the spec's `bpp`), at least 1."""
        return max(1, self.channels * self.bit_depth // 8)

    @property
    def description(self) -> str:
        name = COLOR_TYPE_NAMES[self.color_type]
        return f"{self.bit_depth}-bit {name}{' (interlaced)' if self.interlaced else ''}"


@dataclass(frozen=True)
class PngPass:
    """One pass of an image: its pixels are (y0 + dy * y, x0 + dx * x) for y < height,
    x < width (the whole image: origin 0, step 1)."""

    number: int
    y0: int
    x0: int
    dy: int
    dx: int
    height: int
    width: int


@dataclass(frozen=True)
class PngFile:
    """A parsed PNG: its header, its palette colours if any, and its compressed image data."""

    header: PngHeader
    palette: np.ndarray | None  # (N, 3) uint8, N <= 256
    idat: bytes  # the IDAT chunks' data, concatenated: one zlib stream


def parse(data: bytes, name: str, *, max_pixels: int | None = None) -> PngFile:
    """Split a PNG file into header, palette and compressed data, checking every chunk's CRC.

    Args:
        data: the whole file.
        name: the file's name, used in error messages.
        max_pixels: refuse larger images (a decompression bomb guard); None for no limit.

    Raises:
        PngError: not a PNG, truncated, a CRC mismatch, an invalid header, a misplaced or
            missing chunk, or an image of more than `max_pixels` pixels.
    """
    if data[:8] != SIGNATURE:
        raise PngError(name, "not a PNG file (bad signature)")
    header: PngHeader | None = None
    palette: np.ndarray | None = None
    idat: list[bytes] = []
    idat_done = False
    view = memoryview(data)
    pos = 8
    while True:
        if pos + 12 > len(data):
            raise PngError(name, f"truncated: the file ends at byte {len(data)} before IEND")
        length, kind = _CHUNK_HEAD.unpack_from(data, pos)
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > len(data):
            raise PngError(name, f"truncated: chunk {_kind(kind)} at byte {pos} runs past the end")
        body = view[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack_from(">I", data, pos + 8 + length)
        if zlib.crc32(body, zlib.crc32(kind)) != crc:
            raise PngError(name, f"corrupt: CRC mismatch in chunk {_kind(kind)} at byte {pos}")
        if header is None and kind != b"IHDR":
            raise PngError(name, f"corrupt: the first chunk is {_kind(kind)}, not IHDR")
        if kind == b"IHDR":
            if header is not None:
                raise PngError(name, "corrupt: more than one IHDR chunk")
            header = _parse_header(bytes(body), name, max_pixels)
        elif kind == b"PLTE":
            palette = _parse_palette(bytes(body), name, idat)
        elif kind == b"IDAT":
            if idat_done:
                raise PngError(name, "corrupt: IDAT chunks are not consecutive")
            idat.append(bytes(body))
        elif kind == b"IEND":
            break
        elif kind in _ANIMATION:
            raise PngError(
                name, f"animated PNG (APNG chunk {_kind(kind)}): segment ids need a still image"
            )
        elif kind[:1].isupper() and kind not in _KNOWN_CRITICAL:
            raise PngError(name, f"unsupported critical chunk {_kind(kind)}")
        idat_done = idat_done or (bool(idat) and kind != b"IDAT")
        pos = end
    assert header is not None  # the loop only reaches IEND after IHDR
    if not idat:
        raise PngError(name, "corrupt: no IDAT chunk (no image data)")
    if header.color_type == PALETTE and palette is None:
        raise PngError(name, "corrupt: a palette image without a PLTE chunk")
    return PngFile(header, palette, b"".join(idat))


def _kind(kind: bytes) -> str:
    return kind.decode("latin-1") if kind.isalpha() else repr(kind)


def _parse_header(body: bytes, name: str, max_pixels: int | None) -> PngHeader:
    if len(body) != _IHDR.size:
        raise PngError(name, f"corrupt: IHDR has {len(body)} bytes, expected {_IHDR.size}")
    width, height, depth, color, compression, filtering, interlace = _IHDR.unpack(body)
    if not (0 < width < 2**31 and 0 < height < 2**31):
        raise PngError(name, f"corrupt: invalid image size {width}x{height}")
    if color not in _BIT_DEPTHS or depth not in _BIT_DEPTHS[color]:
        raise PngError(name, f"corrupt: invalid colour type {color} with bit depth {depth}")
    if compression != 0 or filtering != 0 or interlace not in (0, 1):
        raise PngError(
            name,
            f"corrupt: unknown compression ({compression}), filter ({filtering}) "
            f"or interlace ({interlace}) method",
        )
    if max_pixels is not None and width * height > max_pixels:
        raise PngError(
            name,
            f"image too large: {width}x{height} = {width * height} pixels exceeds the limit of "
            f"{max_pixels} (a decompression bomb?)",
        )
    return PngHeader(width, height, depth, color, interlace == 1)


def _parse_palette(body: bytes, name: str, idat: list[bytes]) -> np.ndarray:
    if idat:
        raise PngError(name, "corrupt: PLTE after IDAT")
    if len(body) % 3 or not 3 <= len(body) <= 768:
        raise PngError(name, f"corrupt: PLTE has {len(body)} bytes (3 to 768, a multiple of 3)")
    return np.frombuffer(body, dtype=np.uint8).reshape(-1, 3)
