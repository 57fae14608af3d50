"""Fuzzing the PNG decoders: one family per way a file can be damaged (issue 11).

Each family edits valid PNGs (`pngs.pngs`) and checks the contract of `contract.check_png` on
every library path: Pillow's values, or an error naming the file.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.metrics.fuzz.contract import check_png, fuzz, mutants
from tests.metrics.fuzz.pngs import (
    LAYOUTS,
    REFUSED_LAYOUTS,
    Png,
    assemble,
    filter_positions,
    pngs,
)
from tests.metrics.png.png_files import ADAM7


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The file each example is written to (a hypothesis example cannot use tmp_path)."""
    return tmp_path_factory.mktemp("fuzz_png") / "image.png"


def _flip(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for position, value in edits:
        if out:
            out[position % len(out)] ^= value or 1
    return bytes(out)


flips = st.lists(st.tuples(st.integers(0, 2**16), st.integers(0, 255)), min_size=1, max_size=4)


@fuzz(25)
@given(png=pngs(), edits=mutants(flips))
def test_idat_flips(png: Png, edits: list[list[tuple[int, int]]], target: Path) -> None:
    """Flipped bits in the compressed data, CRCs right: the inflater and checksum see them."""
    stream = png.stream()
    for edit in edits:
        check_png("idat flips", png.to_bytes(_flip(stream, edit)), target)


@fuzz(25)
@given(png=pngs(), edits=mutants(flips))
def test_filtered_rows(png: Png, edits: list[list[tuple[int, int]]], target: Path) -> None:
    """Other pixel bytes under a valid stream: a valid file (or a palette index out of range)
    whose values must be Pillow's."""
    filters = set(filter_positions(png))
    for edit in edits:
        data = bytearray(png.filtered)
        for position, value in edit:
            p = position % len(data)
            if p not in filters:
                data[p] ^= value or 1
        outcome = check_png("filtered rows", png.with_filtered(bytes(data)).to_bytes(), target)
        if png.color_type != 3:
            assert outcome == "accepted"


kinds = st.lists(st.tuples(st.integers(0, 2**16), st.integers(0, 255)), min_size=1, max_size=4)


@fuzz(25)
@given(png=pngs(), edits=mutants(kinds))
def test_filter_bytes(png: Png, edits: list[list[tuple[int, int]]], target: Path) -> None:
    """Filter types 0-255 on random rows of random passes: 5 and above must be refused."""
    positions = filter_positions(png)
    for edit in edits:
        stream = bytearray(png.filtered)
        for row, kind in edit:
            stream[positions[row % len(positions)]] = kind
        outcome = check_png("filter bytes", png.with_filtered(bytes(stream)).to_bytes(), target)
        if any(stream[p] > 4 for p in positions):
            assert outcome == "refused"


ihdr_edits = st.tuples(
    st.sampled_from(["width", "height", "bit_depth", "color_type", "interlace", "methods"]),
    st.one_of(
        st.integers(0, 20),
        st.sampled_from([2**24, 2**27, 2**27 + 1, 2**31 - 1, 2**31, 2**32 - 1]),
    ),
)


@fuzz(25)
@given(png=pngs(), edits=mutants(ihdr_edits))
def test_ihdr_fields(png: Png, edits: list[tuple[str, int]], target: Path) -> None:
    """Any field of the header changed (its CRC right): sizes up to 2^32 - 1, unknown depths,
    colour types and methods, the interlace flag of a non-interlaced stream and back."""
    for field, value in edits:
        edited = _edit_header(png, field, value)
        check_png("IHDR fields", edited.to_bytes(), target)


def _edit_header(png: Png, field: str, value: int) -> Png:
    byte = value % 256
    if field == "width":
        return replace(png, width=value)
    if field == "height":
        return replace(png, height=value)
    if field == "bit_depth":
        return replace(png, bit_depth=byte)
    if field == "color_type":
        return replace(png, color_type=byte)
    if field == "interlace":
        return replace(png, interlace=byte)
    return replace(png, ihdr_fields=(byte, (value >> 8) % 256 or value % 3))


cuts = st.tuples(st.sampled_from(["file", "stream", "rows"]), st.integers(0, 2**16))


@fuzz(25)
@given(png=pngs(), edits=mutants(cuts))
def test_truncations(png: Png, edits: list[tuple[str, int]], target: Path) -> None:
    """The file cut anywhere; the zlib stream cut (CRCs right); the rows cut, then compressed
    completely (a clean stream end before the last row, or the last Adam7 pass)."""
    for where, cut in edits:
        if where == "file":
            data = png.to_bytes()
            data = data[: cut % len(data)]
        elif where == "stream":
            stream = png.stream()
            data = png.to_bytes(stream[: cut % len(stream)])
        else:
            data = png.with_filtered(png.filtered[: cut % len(png.filtered)]).to_bytes()
        assert check_png("truncations", data, target) == "refused"


_CHUNKS = [
    (b"tEXt", b"Comment\x00fuzz"),
    (b"gAMA", struct.pack(">I", 45455)),
    (b"acTL", struct.pack(">II", 1, 0)),
    (b"fcTL", struct.pack(">IIIIIHHBB", 0, 2, 2, 0, 0, 1, 1, 0, 0)),
    (b"fdAT", struct.pack(">I", 1) + zlib.compress(b"\x00" * 7)),
    (b"ABCD", b"critical and unknown"),
    (b"IHDR", struct.pack(">IIBBBBB", 3, 3, 8, 2, 0, 0, 0)),
    (b"PLTE", bytes(range(9))),
    (b"PLTE", b""),
    (b"IDAT", b""),
    (b"IDAT", zlib.compress(b"\x00" * 10)),
    (b"IEND", b""),
    (b"tRNS", b"\x00\x01"),
]
chunk_edits = st.lists(
    st.tuples(
        st.sampled_from(["insert", "delete", "duplicate", "swap"]),
        st.integers(0, 20),
        st.sampled_from(_CHUNKS),
    ),
    min_size=1,
    max_size=3,
)


@fuzz(25)
@given(png=pngs(), edits=mutants(chunk_edits))
def test_chunk_edits(
    png: Png, edits: list[list[tuple[str, int, tuple[bytes, bytes]]]], target: Path
) -> None:
    """Chunks inserted (ancillary, APNG, unknown critical, a second IHDR, PLTE, IDAT, IEND),
    deleted, duplicated or swapped, every CRC right."""
    for edit in edits:
        chunks = png.chunks()
        for action, position, new in edit:
            k = position % len(chunks)
            if action == "insert":
                chunks.insert(k, new)
            elif action == "delete" and len(chunks) > 1:
                del chunks[k]
            elif action == "duplicate":
                chunks.insert(k, chunks[k])
            elif action == "swap" and len(chunks) > 1:
                j = (k + 1) % len(chunks)
                chunks[k], chunks[j] = chunks[j], chunks[k]
        outcome = check_png("chunk edits", assemble(chunks), target)
        kinds = [kind for kind, _ in chunks]
        read = kinds[: kinds.index(b"IEND")] if b"IEND" in kinds else kinds  # none after IEND
        if set(read) & {b"acTL", b"fcTL", b"fdAT", b"ABCD"}:
            assert outcome == "refused"


crc_edits = st.tuples(st.integers(0, 2**16), st.integers(1, 255))


@fuzz(25)
@given(png=pngs(), edits=mutants(crc_edits))
def test_wrong_crcs(png: Png, edits: list[tuple[int, int]], target: Path) -> None:
    """One CRC byte changed, of any chunk (ancillary ones too)."""
    chunks = [*png.chunks()[:1], (b"tEXt", b"a\x00b"), *png.chunks()[1:]]
    file = assemble(chunks)
    ends, pos = [], 8
    while pos < len(file):
        (length,) = struct.unpack_from(">I", file, pos)
        ends.append(pos + 8 + length)
        pos += 12 + length
    for position, value in edits:
        data = bytearray(file)
        data[ends[position % len(ends)] + position % 4] ^= value
        assert check_png("wrong CRCs", bytes(data), target) == "refused"


zlib_edits = st.tuples(
    st.sampled_from(["header", "adler", "cut adler", "junk after", "sync flush", "extra"]),
    st.integers(1, 255),
    st.integers(0, 3),
)


@fuzz(25)
@given(png=pngs(), edits=mutants(zlib_edits))
def test_zlib_stream_edits(png: Png, edits: list[tuple[str, int, int]], target: Path) -> None:
    """The zlib header (method, window, check bits, preset dictionary), its Adler-32 checksum
    changed or cut, bytes after the stream, a stream never finished, rows after the image."""
    for edit, value, position in edits:
        stream = bytearray(png.stream())
        if edit == "header":
            stream[position % 2] ^= value
        elif edit == "adler":
            stream[-1 - position] ^= value
        elif edit == "cut adler":
            stream = stream[: -1 - position]
        elif edit == "junk after":
            stream += bytes([value]) * (position + 1)
        elif edit == "sync flush":
            compressor = zlib.compressobj()
            stream = bytearray(
                compressor.compress(png.filtered) + compressor.flush(zlib.Z_SYNC_FLUSH)
            )
        else:  # data after the last row, inside the stream: ignored, as libpng does
            stream = bytearray(zlib.compress(png.filtered + bytes(value * (position + 1))))
        outcome = check_png("zlib-stream edits", png.to_bytes(bytes(stream)), target)
        if edit in ("adler", "cut adler", "sync flush"):
            assert outcome == "refused"


@fuzz(40)
@given(png=pngs(layouts=LAYOUTS + REFUSED_LAYOUTS, max_side=(40, 40)))
def test_valid_layouts(png: Png, target: Path) -> None:
    """Valid files of every layout, size, filter, compression level and IDAT split: accepted
    with Pillow's values, but for the layouts that are refused."""
    refused = (png.color_type, png.bit_depth) in REFUSED_LAYOUTS
    assert check_png("valid layouts", png.to_bytes(), target) == (
        "refused" if refused else "accepted"
    )


@fuzz(40)
@given(png=pngs(interlace=True), passes=mutants(st.integers(0, 6)))
def test_interlaced(png: Png, passes: list[int], target: Path) -> None:
    """Valid interlaced files of 1x1 to 17x13 (empty passes): accepted with Pillow's values;
    the same stream ending cleanly after its first passes: refused."""
    assert check_png("interlaced", png.to_bytes(), target) == "accepted"
    positions = filter_positions(png)
    for n in passes:
        rows = _rows_in_passes(png, n)
        if rows < len(positions):
            cut = png.with_filtered(png.filtered[: positions[rows]])
            assert check_png("interlaced", cut.to_bytes(), target) == "refused"


def _rows_in_passes(png: Png, n: int) -> int:
    """Rows in the first `n` Adam7 passes."""
    rows = 0
    for x0, y0, _, dy in ADAM7[:n]:
        if png.width > x0 and png.height > y0:
            rows += (png.height - y0 + dy - 1) // dy
    return rows
