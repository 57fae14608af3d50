"""Decode COCO-panoptic PNGs to segment ids `R + 256 G + 65536 B`, reusing buffers.

Two ways, both validated by `format.parse` first (signature, CRCs, header, chunk order):

- "fused" (the default): inflate in blocks of rows (zlib-ng when installed) and undo the row
  filters straight into ids with the numba kernel of `kernels/png.py`; no intermediate image.
  Palette and interlaced (Adam7) images go through the byte-wise kernel `rows_to_values`,
  pass by pass, with the same checks: every row of every pass present, every filter type
  valid, the zlib stream complete and its checksum right.
- "pillow": Pillow decodes the pixels of non-interlaced images (Pillow reads an interlaced
  stream that ends after its first passes as an image with void rows, so interlaced images
  are always decoded by the fused path).

Accepted: 8-bit RGB; 8-bit RGBA (alpha ignored, as panopticapi does); palette PNGs of any bit
depth (ids of the palette colours, so a losslessly optimised PNG keeps its ids; panopticapi
would read the palette indices instead). Refused with an error naming the file: greyscale and
16-bit PNGs, whose ids would be ambiguous, and animated PNGs. `read_grey` reads the 8- and
16-bit greyscale values of a label PNG (Cityscapes' instanceIds) the same way.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from types import ModuleType
from typing import Literal

import numpy as np
from PIL import Image

from ..kernels import rgb_to_ids
from ..kernels.png import (
    BAD_FILTER,
    GREY8,
    GREY16,
    PALETTE_IDS,
    RGB_IDS,
    rgb_rows_to_ids,
    rows_to_values,
)
from . import inflate
from .format import GREY, PALETTE, RGB, RGBA, PngError, PngFile, PngHeader, parse

Backend = Literal["fused", "pillow"]
Source = str | os.PathLike[str] | bytes

# Pillow refuses images above twice its MAX_IMAGE_PIXELS as decompression bombs; so do we.
DEFAULT_MAX_PIXELS = 2 * 89_478_485
_ID_DTYPES = (np.uint32, np.int32, np.int64)
# Inflated bytes per block by default: about the L2 cache of a core, which the block and the
# rows it is unfiltered into share. A whole 640x480 image is one block; fewer, larger blocks
# than 64 rows cost fewer calls (0.29-0.30 against 0.33 ms per COCO-like PNG, 1.88-1.90
# against 1.98-2.20 ms per 1024x2048 one, as installed; benchmark/README.md, "Decoding
# segment-id PNGs").
BLOCK_BYTES = 1 << 20


class PngIdDecoder:
    """A reusable decoder of segment-id PNGs; keep one per worker.

    Args:
        backend: "fused" (default) or "pillow".
        zlib: the zlib implementation of the fused backend: "auto" (zlib-ng if installed,
            else CPython's zlib), "zlib-ng", "isal" or "zlib".
        max_pixels: refuse larger images; None for no limit.
        rgb_only: refuse everything but 8-bit RGB (no RGBA, no palette).
        block_rows: rows inflated per step by the fused backend; by default as many as fill
            `BLOCK_BYTES` (at least 64).

    Example:
        >>> decoder = PngIdDecoder()
        >>> ids = decoder.decode("pred/0001.png")  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        backend: Backend = "fused",
        zlib: str = "auto",
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        rgb_only: bool = False,
        block_rows: int | None = None,
    ) -> None:
        if backend not in ("fused", "pillow"):
            raise ValueError(f"backend must be 'fused' or 'pillow', got {backend!r}")
        if block_rows is not None and block_rows < 1:
            raise ValueError(f"block_rows must be at least 1, got {block_rows}")
        self.backend = backend
        self.zlib = inflate.zlib_module(zlib)
        self.max_pixels = max_pixels
        self.rgb_only = rgb_only
        self.block_rows = block_rows
        self._buffer = np.empty(0, dtype=np.uint32)
        self._zeros: dict[tuple[int, np.dtype[np.generic]], np.ndarray] = {}

    def decode(
        self, source: Source, *, name: str | None = None, out: np.ndarray | None = None
    ) -> np.ndarray:
        """The (height, width) segment ids of a PNG file (a path) or of its bytes.

        Args:
            source: a path, or the file's bytes.
            name: the name used in error messages (default: the path, or "<bytes>").
            out: where to write the ids: a C-contiguous (height, width) array of uint32,
                int32 or int64. By default the decoder's own uint32 buffer, which the
                next call overwrites: copy the result to keep it.

        Raises:
            PngError: the file is not a valid PNG, is corrupt or truncated, has an unsupported
                colour type or bit depth, or is too large.
            FileNotFoundError, OSError: the file cannot be read.
        """
        if isinstance(source, bytes):
            data, name = source, name or "<bytes>"
        else:
            data, name = Path(source).read_bytes(), name or os.fspath(source)
        png = parse(data, name, max_pixels=self.max_pixels)
        _check_layout(png.header, name, self.rgb_only)
        ids = self._output(png.header, out)
        if self.backend == "pillow" and not png.header.interlaced:
            _decode_pillow(data, name, ids)
        elif png.header.color_type == PALETTE or png.header.interlaced:
            _decode_values(png, name, ids, self.zlib, self._rows(png.header))
        else:
            self._decode_rgb(png, name, ids)
        return ids

    def _rows(self, header: PngHeader) -> int:
        if self.block_rows is not None:
            return self.block_rows
        return max(64, BLOCK_BYTES // (header.row_bytes + 1))

    def _output(self, header: PngHeader, out: np.ndarray | None) -> np.ndarray:
        shape = (header.height, header.width)
        if out is None:
            size = header.height * header.width
            if self._buffer.size < size:
                self._buffer = np.empty(size, dtype=np.uint32)
            return self._buffer[:size].reshape(shape)
        if out.shape != shape or out.dtype not in _ID_DTYPES or not out.flags.c_contiguous:
            raise ValueError(
                f"out must be a C-contiguous {shape} array of uint32, int32 or int64, "
                f"got {out.dtype} {out.shape}"
            )
        return out

    def _zero_row(self, width: int, dtype: np.dtype[np.generic]) -> np.ndarray:
        key = (width, dtype)
        if key not in self._zeros:
            self._zeros = {key: np.zeros(width, dtype=dtype)}  # keep one: widths rarely change
        return self._zeros[key]

    def _decode_rgb(self, png: PngFile, name: str, ids: np.ndarray) -> None:
        header = png.header
        pixel_bytes = 4 if header.color_type == RGBA else 3
        zero = self._zero_row(header.width, ids.dtype)
        blocks = inflate.inflate_rows(
            png.idat, header.row_bytes, header.height, self._rows(header), self.zlib, name
        )
        for row0, block in blocks:
            data = np.frombuffer(block, dtype=np.uint8)
            nrows = len(block) // (header.row_bytes + 1)
            bad = rgb_rows_to_ids(data, nrows, row0, pixel_bytes, zero, ids)
            if bad >= 0:
                _bad_filter(name, row0 + bad, block[bad * (header.row_bytes + 1)])


def _check_layout(header: PngHeader, name: str, rgb_only: bool) -> None:
    """Refuse the layouts whose segment ids are ambiguous (or all but RGB with `rgb_only`)."""
    if header.color_type == RGB and header.bit_depth == 8:
        return
    if rgb_only:
        raise PngError(name, f"{header.description} PNG: expected 8-bit RGB")
    if header.color_type == PALETTE or (header.color_type == RGBA and header.bit_depth == 8):
        return
    raise PngError(
        name,
        f"{header.description} PNG: segment ids are read from 8-bit RGB colours "
        "(RGB, RGBA or palette PNGs)",
    )


def _bad_filter(name: str, row: int, kind: int, where: str = "") -> None:
    raise PngError(name, f"corrupt image data: invalid filter type {kind} in row {row}{where}")


def _decode_values(
    png: PngFile, name: str, out: np.ndarray, zlib: ModuleType, block_rows: int
) -> None:
    """Any layout, interlaced or not: unfilter byte by byte, pass by pass, into `out`."""
    header = png.header
    colors = np.zeros(0, dtype=np.int64)
    if header.color_type == PALETTE:
        assert png.palette is not None  # format.parse checks it
        colors = png.palette.astype(np.int64) @ np.array([1, 256, 65536], dtype=np.int64)
        layout = PALETTE_IDS
    elif header.color_type == GREY:
        layout = GREY16 if header.bit_depth == 16 else GREY8
    else:
        layout = RGB_IDS
    stream = inflate.Inflater(png.idat, zlib, name)
    for part in header.passes():
        if part.width == 0 or part.height == 0:
            continue  # an empty Adam7 pass has no bytes in the stream
        where = f" of Adam7 pass {part.number}" if header.interlaced else ""
        row_bytes = header.bytes_of(part.width)
        rows = np.zeros((2, row_bytes), dtype=np.uint8)
        for first, block in stream.rows(row_bytes, part.height, block_rows, where):
            nrows = len(block) // (row_bytes + 1)
            status, at, value = rows_to_values(
                np.frombuffer(block, dtype=np.uint8),
                nrows,
                first,
                rows,
                header.filter_unit,
                layout,
                header.bit_depth,
                colors,
                out,
                (part.y0, part.x0),
                (part.dy, part.dx),
            )
            if status == BAD_FILTER:
                _bad_filter(name, first + at, value, where)
            elif status != 0:
                raise PngError(
                    name,
                    f"palette index {value} in row {at} is not in the {len(colors)}-colour palette",
                )
    stream.finish()


def read_grey(
    source: Source,
    *,
    name: str | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    zlib: str = "auto",
) -> np.ndarray:
    """The (height, width) uint32 samples of an 8- or 16-bit greyscale PNG (a label map).

    Raises:
        PngError: as `PngIdDecoder.decode`, or a layout other than 8- or 16-bit greyscale.
    """
    if isinstance(source, bytes):
        data, name = source, name or "<bytes>"
    else:
        data, name = Path(source).read_bytes(), name or os.fspath(source)
    png = parse(data, name, max_pixels=max_pixels)
    if png.header.color_type != GREY or png.header.bit_depth not in (8, 16):
        raise PngError(name, f"{png.header.description} PNG: expected 8- or 16-bit greyscale")
    out = np.empty((png.header.height, png.header.width), dtype=np.uint32)
    _decode_values(png, name, out, inflate.zlib_module(zlib), 64)
    return out


def _decode_pillow(data: bytes, name: str, ids: np.ndarray) -> None:
    """Pillow decodes the pixels (the "pillow" backend, non-interlaced PNGs only)."""
    try:
        with warnings.catch_warnings():
            # the size was checked against max_pixels; Pillow's own warning threshold is lower
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                rgb = np.asarray(image.convert("RGB") if image.mode == "P" else image)
    except Image.DecompressionBombError as error:
        raise PngError(name, f"refused by Pillow as too large ({error})") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise PngError(name, f"corrupt image data (Pillow: {error})") from error
    if rgb.ndim != 3 or rgb.shape[:2] != ids.shape or rgb.dtype != np.uint8:
        raise PngError(name, f"Pillow decoded {rgb.dtype} {rgb.shape}, expected {ids.shape} RGB")
    rgb_to_ids(rgb, ids)


def read_ids(source: Source, **options: object) -> np.ndarray:
    """The segment ids of one PNG as a new uint32 array (a fresh `PngIdDecoder(**options)`)."""
    decoder = PngIdDecoder(**options)  # type: ignore[arg-type]
    return decoder.decode(source).copy()


def warm_up() -> None:
    """Compile (or load from numba's cache) the fused kernel for uint32 ids, e.g. before forking
    worker processes, by decoding a tiny PNG made in memory."""
    buffer = io.BytesIO()
    Image.fromarray(np.arange(18, dtype=np.uint8).reshape(2, 3, 3)).save(buffer, format="PNG")
    PngIdDecoder().decode(buffer.getvalue())
