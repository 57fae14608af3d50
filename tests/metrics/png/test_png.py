"""Every decoder path gives Pillow's ids, on every filter type, layout and IDAT split.

The reference is Pillow (an external decoder), `np.asarray(image.convert("RGB"))` turned into
ids `R + 256 G + 65536 B` as panopticapi's `rgb2id` does, and the plain-Python twin of the
kernels (`panoptic_metrics.png.reference`), written from the PNG specification.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from panoptic_metrics.png import PngIdDecoder, parse, read_grey, read_ids, reference
from panoptic_metrics.png.inflate import available, zlib_module
from PIL import Image

from tests.metrics.png import png_files

# Every decoder path: the fused one with each zlib implementation installed here, and Pillow.
# block_rows=3 makes images span several inflate blocks, ending on a partial one.
PATHS = [{"backend": "fused", "zlib": name, "block_rows": 3} for name in available()]
PATHS += [{"backend": "fused", "block_rows": 64}, {"backend": "pillow"}]
PATH_IDS = [f"{p['backend']}-{p.get('zlib', 'auto')}-{p.get('block_rows', '')}" for p in PATHS]
SIZES = [(1, 1), (1, 7), (6, 1), (13, 17), (40, 33)]
FILTERS: list[int | str] = [0, 1, 2, 3, 4, "mixed"]


def pillow_ids(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def _pixels(layout: str, h: int, w: int, rng: np.random.Generator) -> dict[str, Any]:
    """Pixels and encoder arguments of one layout: half segment-map-like, half noise."""
    noise = rng.random() < 0.5
    if layout in ("rgb", "rgba"):
        channels = 3 if layout == "rgb" else 4
        if noise:
            pixels = rng.integers(0, 256, size=(h, w, channels))
        else:
            colors = rng.integers(0, 256, size=(6, channels))
            pixels = colors[png_files.segment_map(h, w, 6, rng)]
        return {"pixels": pixels, "color_type": 2 if layout == "rgb" else 6}
    bit_depth = int(layout.removeprefix("palette"))
    n_colors = min(2**bit_depth, 37)
    index = (
        rng.integers(0, n_colors, size=(h, w))
        if noise
        else png_files.segment_map(h, w, n_colors, rng)
    )
    palette = rng.integers(0, 256, size=(n_colors, 3))
    return {"pixels": index, "color_type": 3, "bit_depth": bit_depth, "palette": palette}


@pytest.mark.parametrize("options", PATHS, ids=PATH_IDS)
@pytest.mark.parametrize("layout", ["rgb", "rgba", "palette8", "palette4", "palette2", "palette1"])
def test_every_filter_type_and_size_decodes_like_pillow(
    layout: str, options: dict[str, Any]
) -> None:
    decoder = PngIdDecoder(**options)
    rng = np.random.default_rng(len(layout))
    for h, w in SIZES:
        for filters in FILTERS:
            data = png_files.encode(**_pixels(layout, h, w, rng), filters=filters, seed=h * w)
            expected = pillow_ids(data)
            assert np.array_equal(reference.ids(parse(data, "x")), expected)
            assert np.array_equal(decoder.decode(data), expected), (h, w, filters)


@pytest.mark.parametrize("options", PATHS, ids=PATH_IDS)
def test_split_and_empty_idat_chunks_and_ancillary_chunks(options: dict[str, Any]) -> None:
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, size=(21, 30, 3))
    text = png_files.chunk(b"tEXt", b"Comment\x00made by hand")
    for pieces in (2, 7, 60):
        data = png_files.encode(pixels, color_type=2, idat_pieces=pieces, before_idat=text)
        assert data.count(b"IDAT") == pieces
        assert np.array_equal(PngIdDecoder(**options).decode(data), pillow_ids(data))


@pytest.mark.parametrize("layout", ["rgb", "palette8", "palette2"])
def test_interlaced_png_decodes_like_pillow(layout: str) -> None:
    rng = np.random.default_rng(5)
    for h, w in [(1, 1), (3, 2), (9, 13), (31, 17)]:
        args = _pixels(layout, h, w, rng)
        data = png_files.encode(**args, interlace=True)
        assert parse(data, "x").header.interlaced
        ids = PngIdDecoder().decode(data)
        assert np.array_equal(ids, pillow_ids(data))
        if layout == "rgb":
            pixels = args["pixels"]
            assert np.array_equal(
                ids, pixels[..., 0] + 256 * pixels[..., 1] + 65536 * pixels[..., 2]
            )


@pytest.mark.parametrize("options", PATHS, ids=PATH_IDS)
@pytest.mark.parametrize(
    ("mode", "save"),
    [
        ("RGB", {}),
        ("RGB", {"compress_level": 0}),
        ("RGB", {"compress_level": 1}),
        ("RGB", {"compress_level": 9}),
        ("RGB", {"optimize": True}),
        ("RGBA", {}),
        ("P", {}),
        ("P", {"bits": 4}),
    ],
)
def test_pillow_encoded_segment_maps_round_trip(
    mode: str, save: dict[str, Any], options: dict[str, Any]
) -> None:
    rng = np.random.default_rng(11)
    ids = rng.integers(0, 2**24, size=12)[png_files.segment_map(96, 160, 12, rng)]
    rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1).astype(np.uint8)
    image = Image.fromarray(rgb)
    if mode == "RGBA":
        image = image.convert("RGBA")
    elif mode == "P":
        image = image.quantize(colors=16 if save.get("bits") == 4 else 256)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **save)
    data = buffer.getvalue()
    assert np.array_equal(PngIdDecoder(**options).decode(data), pillow_ids(data))
    if mode != "P":  # lossless: the ids written are the ids read
        assert np.array_equal(PngIdDecoder(**options).decode(data), ids)


def test_alpha_is_ignored_as_panopticapi_does() -> None:
    """panopticapi's rgb2id reads channels 0-2 of an RGBA PNG; so do we, on every alpha."""
    rng = np.random.default_rng(2)
    rgba = rng.integers(0, 256, size=(17, 23, 4))
    data = png_files.encode(rgba, color_type=6)
    rgb = rgba[..., :3]
    assert np.array_equal(
        PngIdDecoder().decode(data), rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]
    )


def test_decoder_reuses_its_buffer_and_out_arrays_of_other_dtypes(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    first = png_files.encode(rng.integers(0, 256, size=(20, 30, 3)), color_type=2)
    second = png_files.encode(rng.integers(0, 256, size=(10, 30, 3)), color_type=2)
    decoder = PngIdDecoder()
    a = decoder.decode(first)
    assert a.dtype == np.uint32
    a_copy = a.copy()
    b = decoder.decode(second)
    assert np.shares_memory(a, b)  # the smaller image reuses the buffer
    assert np.array_equal(b, pillow_ids(second))
    for dtype in (np.int64, np.int32):
        out = np.full((20, 30), -1).astype(dtype)
        assert decoder.decode(first, out=out) is out
        assert np.array_equal(out, a_copy)
    path = tmp_path / "first.png"
    path.write_bytes(first)
    fresh = read_ids(path)
    assert np.array_equal(fresh, a_copy)
    assert not np.shares_memory(fresh, decoder.decode(path))


def test_auto_zlib_is_zlib_ng_when_installed() -> None:
    expected = "zlib_ng.zlib_ng" if "zlib-ng" in available() else "zlib"
    assert zlib_module("auto").__name__ == expected
    assert PngIdDecoder().zlib.__name__ == expected
    with pytest.raises(ValueError, match="unknown zlib implementation 'gzip'"):
        zlib_module("gzip")


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    alpha=st.booleans(),
    filters=st.lists(st.integers(0, 4), min_size=9, max_size=9),
    levels=st.lists(st.integers(0, 255), min_size=1, max_size=4),
    seed=st.integers(0, 2**32 - 1),
)
def test_fused_kernel_matches_the_specification_twin(
    h: int, w: int, alpha: bool, filters: list[int], levels: list[int], seed: int
) -> None:
    """Byte values from a few levels make the Paeth and Average fast paths and ties frequent."""
    rng = np.random.default_rng(seed)
    pixels = rng.choice(np.array(levels), size=(h, w, 4 if alpha else 3))
    data = png_files.encode(pixels, color_type=6 if alpha else 2, filters=filters)
    expected = reference.ids(parse(data, "x"))
    assert np.array_equal(PngIdDecoder(block_rows=2).decode(data), expected)


@pytest.mark.parametrize("backend", ["fused", "pillow"])
def test_interlaced_pngs_are_never_decoded_by_pillow(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pillow reads an interlaced stream that ends after its first passes as void rows, so
    interlaced PNGs always take the library's own path, whatever the backend."""
    rng = np.random.default_rng(1)
    data = png_files.encode(_pixels("rgb", 9, 13, rng)["pixels"], color_type=2, interlace=True)
    expected = pillow_ids(data)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("Pillow was asked to decode an interlaced PNG")

    monkeypatch.setattr(Image, "open", refuse)
    assert np.array_equal(PngIdDecoder(backend=backend).decode(data), expected)  # type: ignore[arg-type]


@pytest.mark.parametrize("layout", ["rgb", "rgba", "palette8", "palette4", "palette2", "palette1"])
def test_interlaced_every_size_of_the_passes_matches_pillow(layout: str) -> None:
    """1x1 to 17x13: every combination of empty and non-empty Adam7 passes, mixed filters,
    against Pillow and the specification twin."""
    rng = np.random.default_rng(len(layout) + 7)
    decoder = PngIdDecoder(block_rows=2)
    for h in range(1, 14):
        for w in range(1, 18):
            data = png_files.encode(**_pixels(layout, h, w, rng), interlace=True, seed=h + w)
            expected = pillow_ids(data)
            assert np.array_equal(reference.ids(parse(data, "x")), expected)
            assert np.array_equal(decoder.decode(data), expected), (h, w)


@pytest.mark.parametrize("depth", [8, 16])
@pytest.mark.parametrize("interlace", [False, True])
def test_greyscale_label_maps_read_like_pillow(depth: int, interlace: bool) -> None:
    rng = np.random.default_rng(depth)
    for h, w in [(1, 1), (5, 3), (13, 17)]:
        values = rng.integers(0, 2**depth, size=(h, w))
        data = png_files.encode(values, color_type=0, bit_depth=depth, interlace=interlace)
        with Image.open(io.BytesIO(data)) as image:
            expected = np.asarray(image).astype(np.int64)
        assert np.array_equal(expected, values)
        assert np.array_equal(read_grey(data), values)


@pytest.mark.parametrize("alpha", [False, True])
def test_none_and_up_rows_of_distinct_pixels_match_the_twin(alpha: bool) -> None:
    """Every pixel a different colour with all bits used, on widths around multiples of 8,
    each row None or Up (the rows the kernel packs whole), 1 or 3 rows per kernel call."""
    rng = np.random.default_rng(int(alpha))
    for width in (1, 5, 7, 8, 9, 15, 16, 17, 23, 24, 25):
        pixels = rng.integers(0, 256, size=(6, width, 4 if alpha else 3))
        for filters in ([0, 2, 2, 0, 2, 2], [2, 2, 0, 2, 0, 0]):
            data = png_files.encode(pixels, color_type=6 if alpha else 2, filters=filters)
            expected = reference.ids(parse(data, "x"))
            assert np.array_equal(expected, pillow_ids(data))
            for block_rows in (1, 3):
                decoded = PngIdDecoder(block_rows=block_rows).decode(data)
                assert np.array_equal(decoded, expected), (width, filters, block_rows)
