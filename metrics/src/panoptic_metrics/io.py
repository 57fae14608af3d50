"""Files in and out: the one panoptic PNG reader, JSON reading, safe paths, atomic writes.

Every PNG of the library is decoded by `read_panoptic_png`: the header (signature, size, colour
type, bit depth) is validated before any pixel is decoded, so an oversized or wrongly encoded
file is refused cheaply; then `png.PngIdDecoder` (fused inflate + numba unfilter, checking
every CRC) writes the ids into the caller's reused buffer.
"""

from __future__ import annotations

import functools
import gc
import io
import json
import os
import re
import struct
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO

import numpy as np

from .checks import is_text, show
from .errors import PanopticInputError
from .png import PngError, PngIdDecoder

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# 2^27 pixels (e.g. 16384 x 8192): far above any panoptic dataset (Vistas tops out near 2e7),
# small enough that the decoded buffers (4 + 3 bytes a pixel) stay under 1 GiB.
DEFAULT_MAX_PIXELS = 1 << 27
_COLOUR_TYPES = {0: "greyscale", 2: "RGB", 3: "palette", 4: "greyscale+alpha", 6: "RGBA"}


@dataclass(frozen=True)
class PngHeader:
    """The IHDR fields of a PNG file."""

    width: int
    height: int
    bit_depth: int
    colour_type: int


def read_png_header(path: str | os.PathLike[str]) -> PngHeader:
    """Read and check the signature and IHDR chunk of a PNG, without decoding it."""
    with _open(path) as f:
        return _parse_header(f.read(33), path)


def _open(path: str | os.PathLike[str]) -> BinaryIO:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise PanopticInputError(str(path), "file not found") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte or a lone surrogate
        raise PanopticInputError(str(path), f"cannot read the file ({exc})") from None


def _parse_header(head: bytes, path: str | os.PathLike[str]) -> PngHeader:
    if not head.startswith(PNG_SIGNATURE):
        raise PanopticInputError(str(path), "not a PNG file (bad signature)")
    if len(head) < 33 or head[12:16] != b"IHDR":
        raise PanopticInputError(str(path), "corrupt or truncated PNG (no IHDR chunk)")
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    if zlib.crc32(head[12:29]) != struct.unpack(">I", head[29:33])[0]:
        raise PanopticInputError(str(path), "corrupt PNG (IHDR checksum mismatch)")
    return PngHeader(width, height, depth, colour)


def _check_header(path: Path, header: PngHeader, max_pixels: int) -> None:
    if header.colour_type != 2:
        kind = _COLOUR_TYPES.get(header.colour_type, f"colour type {header.colour_type}")
        raise PanopticInputError(
            str(path),
            f"has colour type {kind}; panoptic PNGs must be 8-bit RGB (id = R + 256 G + 65536 B)",
        )
    if header.bit_depth != 8:
        raise PanopticInputError(
            str(path),
            f"has {header.bit_depth} bits per channel; panoptic PNGs must be 8-bit RGB",
        )
    pixels = header.width * header.height
    if pixels == 0 or pixels > max_pixels:
        raise PanopticInputError(
            str(path),
            f"is {header.width}x{header.height} = {pixels} pixels, outside 1..{max_pixels} "
            "(a decompression bomb? raise max_pixels if the image is genuine)",
        )


def read_panoptic_png(
    path: str | os.PathLike[str],
    *,
    expected_shape: tuple[int, int] | None = None,
    out: np.ndarray | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Decode a COCO-panoptic PNG into segment ids, id = R + 256 G + 65536 B.

    Args:
        path: the PNG file.
        expected_shape: (height, width) it must have (its ground truth's), checked from the
            header before decoding.
        out: an (H, W) uint32 C-contiguous buffer to decode into (reused across images).
        max_pixels: refuse larger images before decoding them (decompression bombs).

    Returns:
        (H, W) uint32 segment ids (`out` when given).

    Raises:
        PanopticInputError: missing file, not a PNG, corrupt or truncated data, a colour type
            other than RGB or a bit depth other than 8, a size over `max_pixels` or different
            from `expected_shape`.
    """
    path = Path(path)
    with _open(path) as f:
        head = f.read(33)
        header = _parse_header(head, path)
        _check_header(path, header, max_pixels)
        shape = (header.height, header.width)
        if expected_shape is not None and tuple(expected_shape) != shape:
            raise PanopticInputError(
                str(path),
                f"is {header.width}x{header.height} (width x height) but its ground truth is "
                f"{expected_shape[1]}x{expected_shape[0]}",
            )
        if out is None:
            out = np.empty(shape, dtype=np.uint32)
        elif out.shape != shape or out.dtype != np.uint32 or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous {shape} uint32 array")
        try:
            data = head + f.read()
        except OSError as exc:
            raise PanopticInputError(str(path), f"cannot read the file ({exc})") from None
    try:
        _png_decoder().decode(data, name=str(path), out=out)
    except PngError as exc:
        raise PanopticInputError(str(path), f"corrupt or truncated PNG ({exc.problem})") from None
    return out


def ids_to_rgb(ids: np.ndarray) -> np.ndarray:
    """(H, W) segment ids -> (H, W, 3) uint8, the COCO-panoptic PNG encoding (the inverse of
    `read_panoptic_png`); ValueError for an id outside 0..2^24-1."""
    ids = np.asarray(ids, dtype=np.int64)
    if ids.min(initial=0) < 0 or ids.max(initial=0) >= 1 << 24:
        raise ValueError("segment ids must be in [0, 2^24) to be written as RGB")
    return np.stack([ids & 255, ids >> 8 & 255, ids >> 16], axis=-1).astype(np.uint8)


_PNG_DECODER: PngIdDecoder | None = None


def _png_decoder() -> PngIdDecoder:
    """This process's decoder (`png.PngIdDecoder`: zlib-ng inflate + numba unfilter when
    zlib-ng is installed); the checks above have run, so it needs no size limit."""
    global _PNG_DECODER
    if _PNG_DECODER is None:
        _PNG_DECODER = PngIdDecoder(rgb_only=True, max_pixels=None)
    return _PNG_DECODER


# A file name without a folder, drive or `..`: letters, digits, `_-.`, not starting with a dot.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


def safe_join(folder: str | os.PathLike[str], file_name: Any, *, source: str) -> Path:
    """`folder / file_name`, refusing names that could leave the folder.

    Refused: non-strings, empty names, absolute paths (POSIX or Windows, drive letters), any
    `..` component, NUL bytes, lone surrogates. Subfolders (`city/x.png`) are allowed.
    """
    if type(file_name) is str and _PLAIN_NAME.fullmatch(file_name):  # the usual case, cheaply
        return Path(folder, file_name)
    if not is_text(file_name) or not file_name or "\x00" in file_name:
        raise PanopticInputError(source, f"file_name {show(file_name)} is not a valid file name")
    posix, windows = PurePosixPath(file_name), PureWindowsPath(file_name)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or windows.root:
        raise PanopticInputError(
            source, f"file_name {file_name!r} is an absolute path; it must be relative"
        )
    if ".." in posix.parts or ".." in windows.parts:
        raise PanopticInputError(source, f"file_name {file_name!r} points outside its folder")
    return Path(folder) / file_name


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block (where it was running).

    For the blocks that make or drop hundreds of thousands of objects without cycles: a
    parsed JSON and the structures built from it, the rows of a results file. There each
    collection walks every object made so far, which took a third of reading a 5000-image
    COCO-panoptic JSON (benchmark/README.md, "The parent's serial phases"); reference counting
    still frees everything as usual."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file; a missing or malformed file is a PanopticInputError naming it, and
    so is one nested too deeply for the parser or with an integer of thousands of digits."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise PanopticInputError(str(path), "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PanopticInputError(str(path), f"cannot read the file ({exc})") from None
    except RecursionError:
        raise PanopticInputError(str(path), "invalid JSON (nested too deeply)") from None
    except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
        raise PanopticInputError(str(path), f"invalid JSON ({exc})") from None


# The process umask, read once at import (os.umask can only be read by setting it).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def write_bytes_atomic(data: bytes, path: str | os.PathLike[str]) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename: the
    final name never holds a half-written file."""
    write_chunks_atomic((data,), path)


def write_chunks_atomic(chunks: Iterable[bytes], path: str | os.PathLike[str]) -> None:
    """`write_bytes_atomic` of the concatenated `chunks`, written as they come (a large file
    is never whole in memory); an error while producing them leaves `path` as it was. The
    project's one atomic writer."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes it 0600; plain open() would not
        with os.fdopen(fd, "wb") as f, gc_paused():  # the chunks may be built as they come
            for chunk in chunks:
                f.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(text: str, path: str | os.PathLike[str]) -> None:
    """`write_bytes_atomic` of `text` in UTF-8."""
    write_bytes_atomic(text.encode("utf-8"), path)


def write_png_atomic(array: np.ndarray, path: str | os.PathLike[str]) -> None:
    """`write_bytes_atomic` of `array` (what `Image.fromarray` takes) encoded as PNG by Pillow."""
    from PIL import Image  # only here: the readers need no Pillow at import

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    write_bytes_atomic(buffer.getvalue(), path)


def json_text(data: Any) -> str:
    """The text `write_json_atomic` writes: strict JSON (NaN is refused: use None), indented
    by one space: exactly `json.dumps(data, indent=1, allow_nan=False)` and a newline.

    `json.dumps` with an indent runs Python's pure-Python encoder (its C encoder takes no
    indent before Python 3.13), which costs most of a second on a 5000-image results JSON.
    Here the containers are walked in Python and the values, and every list of plain
    numbers whole, are encoded by the C functions, the lines joined as that encoder would.
    Anything else (a non-string key other than an int, a subclass, a non-finite float, a
    cycle, an object json cannot encode) falls back to `json.dumps`, so output and errors
    are always its own.
    """
    out: list[str] = []
    try:
        _indented(data, "\n", out)
    except (_Unusual, ValueError, RecursionError):
        return json.dumps(data, indent=1, allow_nan=False) + "\n"
    out.append("\n")
    return "".join(out)


class _Unusual(Exception):
    """A value `_indented` leaves to `json.dumps`."""


def _not_json(value: Any) -> Any:
    raise _Unusual


_SCALARS = frozenset((int, float, str, bool, type(None)))


@functools.cache
def _flat(inner: str) -> Any:
    """json's C encoder for a container of scalars whose items go on lines that start with
    `inner` (a line break and their indent): (value, 0) -> chunks, `json.dumps(indent=1)`'s
    text less the first line break after the opening bracket and the last before the closing
    one; ValueError on NaN or inf."""
    return json.encoder.c_make_encoder(  # type: ignore[attr-defined]
        None,
        _not_json,
        json.encoder.encode_basestring_ascii,
        None,
        ": ",
        "," + inner,
        False,
        False,
        False,
    )


def _indented(value: Any, newline: str, out: list[str]) -> None:
    """Append `value` as `json.dumps(indent=1)` writes it at the depth of `newline` (a line
    break and the indent of the line `value` starts on)."""
    kind = type(value)
    if kind is str:
        out.append(_encode_string(value))
    elif kind is float:
        if value != value or value in (_INF, -_INF):
            raise _Unusual
        out.append(float.__repr__(value))
    elif kind is int:
        out.append(int.__repr__(value))
    elif kind is list or kind is tuple:
        if not value:
            out.append("[]")
            return
        inner = newline + " "
        if set(map(type, value)) <= _SCALARS:  # the C encoder, one item a line
            text = "".join(_flat(inner)(value, 0))  # ValueError on a non-finite float
            out.append("[" + inner + text[1:-1] + newline + "]")
            return
        out.append("[")
        separator = inner
        for item in value:
            out.append(separator)
            _indented(item, inner, out)
            separator = "," + inner
        out.append(newline + "]")
    elif kind is dict:
        if not value:
            out.append("{}")
            return
        inner = newline + " "
        if set(map(type, value.values())) <= _SCALARS and set(map(type, value)) <= _KEYS:
            text = "".join(_flat(inner)(value, 0))  # ValueError on a non-finite float
            out.append("{" + inner + text[1:-1] + newline + "}")
            return
        out.append("{")
        separator = inner
        for key, item in value.items():
            if type(key) is str:
                out.append(separator + _encode_string(key) + ": ")
            elif type(key) is int:
                out.append(f'{separator}"{int.__repr__(key)}": ')
            else:
                raise _Unusual
            _indented(item, inner, out)
            separator = "," + inner
        out.append(newline + "}")
    elif value is None:
        out.append("null")
    elif value is True or value is False:
        out.append("true" if value else "false")
    else:
        raise _Unusual


_INF = float("inf")
_KEYS = frozenset((str, int))  # the C encoder writes an int key as json.dumps does, "7"
_encode_string = json.encoder.encode_basestring_ascii


def json_text_chunks(data: Mapping[str, Any]) -> Iterator[str]:
    """The text of a top-level object whose values may be iterators, in pieces: each such
    value is written as a JSON list with one item per line, each item on that line whole
    (`json.dumps`' default separators, strict: NaN refused), so that a long list (the
    per-image rows of a results file) is never whole in memory and is encoded by json's C
    encoder, row by row. The other values are as `json_text` writes them (indent 1, a value
    nested k levels down indented by k more spaces). The text reads back as `data` with its
    iterators made lists; without iterators it is `json_text(data)`."""
    if not data or not all(isinstance(key, str) for key in data):
        yield json_text({k: list(v) if isinstance(v, Iterator) else v for k, v in data.items()})
        return
    yield "{"
    for k, (key, value) in enumerate(data.items()):
        yield ("\n " if k == 0 else ",\n ") + _dumps(key) + ": "
        if not isinstance(value, Iterator):
            yield _dumps(value).replace("\n", "\n ")
            continue
        empty = True
        for item in value:
            yield ("[\n  " if empty else ",\n  ") + _ROW.encode(item)
            empty = False
        yield "[]" if empty else "\n ]"
    yield "\n}\n"


# One line per item of a streamed list: json's C encoder (no indent), NaN refused.
_ROW = json.JSONEncoder(allow_nan=False)


def _dumps(value: Any) -> str:
    """`json.dumps(value, indent=1, allow_nan=False)`, by `json_text`'s C-encoder path."""
    return json_text(value)[:-1]


def write_json_atomic(data: Any, path: str | os.PathLike[str]) -> None:
    """Write strict JSON (NaN is refused: use None) atomically; a top-level object's iterator
    values are streamed (`json_text_chunks`)."""
    if isinstance(data, Mapping):
        write_chunks_atomic((t.encode("utf-8") for t in json_text_chunks(data)), path)
    else:
        write_text_atomic(json_text(data), path)


def json_float(x: float) -> float | None:
    """A float for strict JSON: NaN (undefined, e.g. a class with nothing to average) -> None.
    (`x != x` is NaN's test: a plain comparison, where `np.isnan` on a Python float costs a
    numpy call, and the results file makes ~100 000 of these.)"""
    return None if x != x else float(x)
