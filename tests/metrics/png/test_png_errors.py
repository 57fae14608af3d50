"""Bad PNGs get a `PngError` naming the file and the problem, on every decoder path."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from panoptic_metrics.png import PngError, PngIdDecoder
from PIL import Image

from tests.metrics.png import png_files

BACKENDS = [{"backend": "fused"}, {"backend": "pillow"}]


def _rgb(h: int = 10, w: int = 12, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3))


def _good() -> bytes:
    return png_files.encode(_rgb(), color_type=2)


def _with_stream(stream: bytes, h: int = 10, w: int = 12) -> bytes:
    """An RGB PNG whose IDAT holds exactly `stream` (already compressed)."""
    return (
        png_files.SIGNATURE
        + png_files.ihdr(w, h, 8, 2)
        + png_files.chunk(b"IDAT", stream)
        + png_files.chunk(b"IEND", b"")
    )


def _filtered(h: int = 10, w: int = 12, kinds: list[int] | None = None) -> bytes:
    rows = png_files.pack_rows(_rgb(h, w), 8)
    return png_files.filter_rows(rows, 3, kinds or [4] * h)


def _decode(data: bytes, tmp_path: Path, **options: Any) -> np.ndarray:
    path = tmp_path / "pred" / "frankfurt_000001.png"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return PngIdDecoder(**options).decode(path)


def _expect(data: bytes, tmp_path: Path, match: str, **options: Any) -> PngError:
    with pytest.raises(PngError, match=match) as info:
        _decode(data, tmp_path, **options)
    assert str(tmp_path / "pred" / "frankfurt_000001.png") in str(info.value)
    assert info.value.name.endswith("frankfurt_000001.png")
    return info.value


def _idat_offset(data: bytes) -> int:
    return data.index(b"IDAT") - 4


@pytest.mark.parametrize("options", BACKENDS, ids=["fused", "pillow"])
@pytest.mark.parametrize(
    ("corrupt", "match"),
    [
        (lambda d: b"GIF89a" + d[6:], "not a PNG file"),
        (lambda d: d[:-1], "truncated: the file ends at byte .* before IEND"),
        (lambda d: d[: _idat_offset(d) + 20], "truncated: chunk IDAT at byte 33 runs past the end"),
        (lambda d: d[:-12], "truncated: the file ends at byte .* before IEND"),
        (lambda d: d[:50] + bytes([d[50] ^ 1]) + d[51:], "CRC mismatch in chunk IDAT at byte 33"),
        (lambda d: d[:20] + bytes([d[20] ^ 1]) + d[21:], "CRC mismatch in chunk IHDR at byte 8"),
        (lambda d: d[:8] + d[33:], "the first chunk is IDAT, not IHDR"),
    ],
    ids=["signature", "no-iend-crc", "cut-in-idat", "no-iend", "crc-idat", "crc-ihdr", "no-ihdr"],
)
def test_damaged_files(corrupt: Any, match: str, options: dict[str, Any], tmp_path: Path) -> None:
    _expect(corrupt(_good()), tmp_path, match, **options)


@pytest.mark.parametrize("options", BACKENDS, ids=["fused", "pillow"])
def test_corrupt_compressed_data_with_valid_crcs(options: dict[str, Any], tmp_path: Path) -> None:
    stream = zlib.compress(_filtered())
    _expect(_with_stream(stream[:2] + b"\xff" * 40), tmp_path, "corrupt image data", **options)
    bad_checksum = stream[:-4] + bytes(4)
    _expect(_with_stream(bad_checksum), tmp_path, "corrupt image data", **options)


def test_truncated_compressed_data_names_the_rows(tmp_path: Path) -> None:
    short = zlib.compress(_filtered()[: 3 * 37 + 5])  # 3 rows and a bit of 10, 37 bytes each
    _expect(_with_stream(short), tmp_path, "truncated image data: 3 of 10 rows")
    _expect(_with_stream(short), tmp_path, "corrupt image data", backend="pillow")
    compressor = zlib.compressobj()
    unfinished = compressor.compress(_filtered()) + compressor.flush(zlib.Z_SYNC_FLUSH)
    _expect(_with_stream(unfinished), tmp_path, "the zlib stream has no end")


def test_data_after_the_last_row_is_ignored_like_libpng(tmp_path: Path) -> None:
    data = _with_stream(zlib.compress(_filtered() + bytes(37 * 2)))
    expected = _decode(_with_stream(zlib.compress(_filtered())), tmp_path).copy()
    assert np.array_equal(_decode(data, tmp_path), expected)


@pytest.mark.parametrize("layout", ["rgb", "palette"])
def test_invalid_filter_type(layout: str, tmp_path: Path) -> None:
    if layout == "rgb":
        data = _with_stream(zlib.compress(_filtered(kinds=[0, 1, 5, 0, 0, 0, 0, 0, 0, 0])))
    else:
        rows = png_files.pack_rows(np.zeros((4, 5), dtype=np.int64), 8)
        stream = png_files.filter_rows(rows, 1, [2, 2, 2, 7])
        data = (
            png_files.SIGNATURE
            + png_files.ihdr(5, 4, 8, 3)
            + png_files.chunk(b"PLTE", bytes(3))
            + png_files.chunk(b"IDAT", zlib.compress(stream))
            + png_files.chunk(b"IEND", b"")
        )
    row = 2 if layout == "rgb" else 3
    kind = 5 if layout == "rgb" else 7
    _expect(data, tmp_path, f"invalid filter type {kind} in row {row}")
    _expect(data, tmp_path, "corrupt image data", backend="pillow")


@pytest.mark.parametrize("options", BACKENDS, ids=["fused", "pillow"])
@pytest.mark.parametrize(
    ("mode", "match"),
    [
        ("L", "8-bit greyscale PNG: segment ids are read from 8-bit RGB colours"),
        ("I;16", "16-bit greyscale PNG"),
        ("LA", "8-bit greyscale\\+alpha PNG"),
        ("1", "1-bit greyscale PNG"),
    ],
)
def test_greyscale_is_refused(
    mode: str, match: str, options: dict[str, Any], tmp_path: Path
) -> None:
    """A grey value could be an id or a colour: ambiguous, so refused (panopticapi guesses)."""
    image = Image.new(mode, (8, 6))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    _expect(buffer.getvalue(), tmp_path, match, **options)


@pytest.mark.parametrize("color_type", [2, 6])
def test_16_bit_colour_is_refused(color_type: int, tmp_path: Path) -> None:
    channels = 3 if color_type == 2 else 4
    pixels = np.random.default_rng(0).integers(0, 65536, size=(5, 4, channels))
    data = png_files.encode(pixels, color_type=color_type, bit_depth=16)
    name = "RGB" if color_type == 2 else "RGBA"
    _expect(data, tmp_path, f"16-bit {name} PNG: segment ids are read from 8-bit RGB colours")


def test_rgb_only_refuses_rgba_and_palette(tmp_path: Path) -> None:
    rgba = png_files.encode(np.zeros((3, 4, 4), dtype=np.int64), color_type=6)
    palette = png_files.encode(
        np.zeros((3, 4), dtype=np.int64), color_type=3, palette=np.zeros((1, 3))
    )
    _expect(rgba, tmp_path, "8-bit RGBA PNG: expected 8-bit RGB", rgb_only=True)
    _expect(palette, tmp_path, "8-bit palette PNG: expected 8-bit RGB", rgb_only=True)
    assert _decode(_good(), tmp_path, rgb_only=True).shape == (10, 12)


def test_palette_problems(tmp_path: Path) -> None:
    index = np.array([[0, 1, 2], [2, 5, 0]])
    data = png_files.encode(index, color_type=3, palette=np.zeros((3, 3)))
    _expect(data, tmp_path, "palette index 5 in row 1 is not in the 3-colour palette")
    no_plte = png_files.encode(index, color_type=3)
    _expect(no_plte, tmp_path, "a palette image without a PLTE chunk")
    bad_plte = png_files.encode(index, color_type=3, palette=np.zeros(4))
    _expect(bad_plte, tmp_path, "PLTE has 4 bytes")


@pytest.mark.parametrize(
    ("header", "match"),
    [
        ((12, 10, 3, 2), "invalid colour type 2 with bit depth 3"),
        ((12, 10, 8, 5), "invalid colour type 5 with bit depth 8"),
        ((0, 10, 8, 2), "invalid image size 0x10"),
    ],
)
def test_invalid_headers(header: tuple[int, int, int, int], match: str, tmp_path: Path) -> None:
    data = _good()
    start = data.index(b"IHDR") - 4
    _expect(data[:start] + png_files.ihdr(*header) + data[start + 25 :], tmp_path, match)


def test_chunk_order_problems(tmp_path: Path) -> None:
    good = _good()
    idat_start = _idat_offset(good)
    idat_end = good.index(b"IEND") - 4
    idat = good[idat_start:idat_end]
    text = png_files.chunk(b"tEXt", b"a\x00b")
    split = png_files.encode(_rgb(), color_type=2, idat_pieces=2)
    second = split.index(b"IDAT", split.index(b"IDAT") + 4) - 4
    _expect(split[:second] + text + split[second:], tmp_path, "IDAT chunks are not consecutive")
    _expect(good[:idat_start] + good[idat_end:], tmp_path, "no IDAT chunk")
    unknown = png_files.chunk(b"ABCD", b"")
    _expect(good[:idat_start] + unknown + idat + good[idat_end:], tmp_path, "critical chunk ABCD")
    assert _decode(good[:idat_start] + text + idat + good[idat_end:], tmp_path).shape == (10, 12)


@pytest.mark.parametrize("options", BACKENDS, ids=["fused", "pillow"])
def test_decompression_bomb_is_refused_before_decoding(
    options: dict[str, Any], tmp_path: Path
) -> None:
    """A 20000x20000 header over a few bytes of data: refused from the header alone."""
    bomb = _with_stream(zlib.compress(bytes(100)), h=20000, w=20000)
    _expect(bomb, tmp_path, "image too large: 20000x20000 = 400000000 pixels exceeds", **options)
    _expect(_good(), tmp_path, "exceeds the limit of 100", max_pixels=100, **options)
    assert _decode(_good(), tmp_path, max_pixels=120, **options).shape == (10, 12)


def test_missing_file_and_wrong_out(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nothing\.png"):
        PngIdDecoder().decode(tmp_path / "nothing.png")
    with pytest.raises(ValueError, match=r"out must be a C-contiguous \(10, 12\) array"):
        PngIdDecoder().decode(_good(), out=np.zeros((12, 10), dtype=np.uint32))
    with pytest.raises(ValueError, match="out must be"):
        PngIdDecoder().decode(_good(), out=np.zeros((10, 12), dtype=np.float64))
    with pytest.raises(ValueError, match="backend must be"):
        PngIdDecoder(backend="spng")  # type: ignore[arg-type]


def test_a_failure_leaves_the_decoder_usable(tmp_path: Path) -> None:
    decoder = PngIdDecoder()
    expected = decoder.decode(_good()).copy()
    bad = _with_stream(zlib.compress(_filtered(kinds=[0, 1, 2, 3, 4, 9, 0, 0, 0, 0])))
    with pytest.raises(PngError, match="<bytes>: corrupt image data: invalid filter type 9"):
        decoder.decode(bad)
    assert np.array_equal(decoder.decode(_good()), expected)
    assert struct.unpack(">I", _good()[16:20])[0] == 12  # the width the tests assume


def _interlaced_stream(h: int = 10, w: int = 12) -> bytes:
    """The filtered data of an interlaced RGB image, every pass in order."""
    data = png_files.encode(_rgb(h, w), color_type=2, interlace=True)
    start = _idat_offset(data)
    (length,) = struct.unpack(">I", data[start : start + 4])
    return zlib.decompress(data[start + 8 : start + 8 + length])


def _interlaced_with_stream(stream: bytes, h: int = 10, w: int = 12) -> bytes:
    return (
        png_files.SIGNATURE
        + png_files.ihdr(w, h, 8, 2, interlace=1)
        + png_files.chunk(b"IDAT", stream)
        + png_files.chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("options", BACKENDS, ids=["fused", "pillow"])
def test_interlaced_png_missing_its_last_pass_is_refused(
    options: dict[str, Any], tmp_path: Path
) -> None:
    """Issue 11: a stream that ends cleanly after pass 6; Pillow returns row 1, 3, ... void."""
    filtered = _interlaced_stream()
    last_pass = 5 * (1 + 12 * 3)  # pass 7: rows 1, 3, 5, 7, 9 of the full width
    stream = zlib.compress(filtered[:-last_pass])
    _expect(
        _interlaced_with_stream(stream),
        tmp_path,
        "truncated image data: 0 of 5 rows of Adam7 pass 7",
        **options,
    )
    partial = zlib.compress(filtered[: -last_pass + 37 * 2 + 5])
    _expect(_interlaced_with_stream(partial), tmp_path, "2 of 5 rows of Adam7 pass 7", **options)


def test_issue_11_reproducer_one_pixel_wide_two_high(tmp_path: Path) -> None:
    """The reproducer of issue 11: 1x2 interlaced, pass 7 (row 1) missing."""
    data = _interlaced_with_stream(zlib.compress(bytes([0, 10, 20, 30])), h=2, w=1)
    _expect(data, tmp_path, "0 of 1 rows of Adam7 pass 7")
    whole = _interlaced_with_stream(zlib.compress(bytes([0, 10, 20, 30, 0, 1, 2, 3])), h=2, w=1)
    ids = _decode(whole, tmp_path)
    assert ids.tolist() == [[10 + 256 * 20 + 65536 * 30], [1 + 256 * 2 + 65536 * 3]]


@pytest.mark.parametrize("options", BACKENDS, ids=["fused", "pillow"])
def test_interlaced_checksum_and_filters_are_checked(
    options: dict[str, Any], tmp_path: Path
) -> None:
    stream = zlib.compress(_interlaced_stream())
    bad_checksum = stream[:-4] + bytes(4)
    _expect(_interlaced_with_stream(bad_checksum), tmp_path, "corrupt image data", **options)
    _expect(_interlaced_with_stream(stream[:-2]), tmp_path, "zlib stream has no end", **options)
    filtered = bytearray(_interlaced_stream())
    filtered[2 * (1 + 2 * 3)] = 7  # pass 2 starts after pass 1's 2 rows of 2 pixels
    _expect(
        _interlaced_with_stream(zlib.compress(bytes(filtered))),
        tmp_path,
        "invalid filter type 7 in row 0 of Adam7 pass 2",
        **options,
    )


def test_a_checksum_after_much_trailing_data_is_still_checked(tmp_path: Path) -> None:
    """Rows after the image are ignored (as libpng does), but the checksum after them counts;
    more trailing data than the image itself is refused rather than inflated."""
    stream = zlib.compress(_filtered() + bytes(300))
    assert _decode(_with_stream(stream), tmp_path).shape == (10, 12)
    _expect(_with_stream(stream[:-4] + bytes(4)), tmp_path, "incorrect data check")
    bomb = zlib.compress(_filtered() + bytes(1 << 20))
    _expect(_with_stream(bomb), tmp_path, "more than 65536 bytes after the last row")


def test_two_to_the_27_pixels_wide_interlaced_png_is_refused_by_name(tmp_path: Path) -> None:
    """Issue 11: Pillow's overflow guard raised a bare MemoryError on this header."""
    data = _interlaced_with_stream(zlib.compress(bytes(4)), h=1, w=2**27)
    _expect(data, tmp_path, "truncated image data: 0 of 1 rows of Adam7 pass 1")


@pytest.mark.parametrize("options", BACKENDS, ids=["fused", "pillow"])
@pytest.mark.parametrize("interlace", [False, True])
def test_animated_pngs_are_refused(
    interlace: bool, options: dict[str, Any], tmp_path: Path
) -> None:
    """Issue 11: an acTL and a 2x2 fcTL before the IDAT of a 4x4 image decoded to 4x4 on one
    path and to the 2x2 frame on the other."""
    actl = png_files.chunk(b"acTL", struct.pack(">II", 1, 0))
    fctl = png_files.chunk(b"fcTL", struct.pack(">IIIIIHHBB", 0, 2, 2, 0, 0, 1, 1, 0, 0))
    data = png_files.encode(_rgb(4, 4), color_type=2, interlace=interlace, before_idat=actl + fctl)
    _expect(data, tmp_path, "animated PNG \\(APNG chunk acTL\\)", **options)
