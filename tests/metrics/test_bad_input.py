"""Bad input: every case of issue 3 gets a clear error naming the file and the problem."""

from __future__ import annotations

import json
import re
import shutil
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from panoptic_metrics import PanopticInputError, evaluate_coco, read_panoptic_png
from PIL import Image

from tests.metrics.conftest import CocoSet


@pytest.fixture
def data(random_set: CocoSet, tmp_path: Path) -> CocoSet:
    """A private copy of the random set, free to break."""
    shutil.copytree(random_set.gt_folder, tmp_path / "gt")
    shutil.copytree(random_set.pred_folder, tmp_path / "pred")
    shutil.copy(random_set.gt_json, tmp_path / "gt.json")
    shutil.copy(random_set.pred_json, tmp_path / "pred.json")
    return CocoSet(tmp_path / "gt.json", tmp_path / "gt", tmp_path / "pred.json", tmp_path / "pred")


def _evaluate(data: CocoSet, workers: int = 1) -> None:
    evaluate_coco(*data.args(), workers=workers, progress=False)


def _edit_json(path: Path, edit: Any) -> None:
    content = json.loads(path.read_text())
    edit(content)
    path.write_text(json.dumps(content))


def _first_png(data: CocoSet) -> Path:
    name = json.loads(data.pred_json.read_text())["annotations"][0]["file_name"]
    return data.pred_folder / name


def _expect(data: CocoSet, message: str, names: str | Path, workers: int = 1) -> None:
    with pytest.raises(PanopticInputError, match=message) as err:
        _evaluate(data, workers)
    assert str(names) in str(err.value), err.value


def _png(
    path: Path, width: int, height: int, depth: int, colour: int, raw: bytes, interlace: int = 0
) -> None:
    """A minimal PNG writer (for what Pillow will not write: 16-bit RGB, lying headers)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    data = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + data)


@pytest.mark.parametrize("workers", [1, 2])
def test_corrupt_png(data: CocoSet, workers: int) -> None:
    png = _first_png(data)
    raw = bytearray(png.read_bytes())
    raw[60:68] = b"\xff" * 8  # inside the compressed image data
    png.write_bytes(bytes(raw))
    _expect(data, "corrupt or truncated PNG", png, workers)


def test_truncated_png(data: CocoSet) -> None:
    png = _first_png(data)
    png.write_bytes(png.read_bytes()[: len(png.read_bytes()) // 2])
    _expect(data, "corrupt or truncated PNG", png)


def test_not_a_png_and_missing_file(data: CocoSet) -> None:
    png = _first_png(data)
    png.write_bytes(b"GIF89a not a png at all, but long enough to have a header......")
    _expect(data, "not a PNG file", png)
    png.unlink()
    _expect(data, "file not found", png)


def test_prediction_size_differs_from_ground_truth(data: CocoSet) -> None:
    png = _first_png(data)
    with Image.open(png) as image:
        image.crop((0, 0, 40, 30)).save(png)
    _expect(data, r"is 40x30 \(width x height\) but its ground truth is 64x48", png)


@pytest.mark.parametrize(
    ("mode", "message"),
    [("RGBA", "colour type RGBA"), ("P", "colour type palette"), ("L", "colour type greyscale")],
)
def test_rgba_palette_and_grey_pngs_are_refused(data: CocoSet, mode: str, message: str) -> None:
    png = _first_png(data)
    with Image.open(png) as image:
        image.convert(mode).save(png)
    _expect(data, message, png)


def test_16_bit_rgb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    _png(path, 2, 2, 16, 2, b"".join(b"\x00" + bytes(12) for _ in range(2)))
    with pytest.raises(PanopticInputError, match="has 16 bits per channel") as err:
        read_panoptic_png(path)
    assert str(path) in str(err.value)


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    """A header claiming 100000 x 100000 pixels (10^10) over a few bytes of data."""
    path = tmp_path / "bomb.png"
    _png(path, 100_000, 100_000, 8, 2, b"\x00" * 100)
    with pytest.raises(PanopticInputError, match="decompression bomb") as err:
        read_panoptic_png(path)
    assert str(path) in str(err.value)
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(small)
    with pytest.raises(PanopticInputError, match=r"400 pixels, outside 1\.\.399"):
        read_panoptic_png(small, max_pixels=399)
    assert read_panoptic_png(small, max_pixels=400).shape == (20, 20)


def _drop_first_segment(side: str):  # type: ignore[no-untyped-def]
    def edit(content: dict[str, Any]) -> None:
        segments = content["annotations"][0]["segments_info"]
        del segments[0]

    return edit


@pytest.mark.parametrize("side", ["gt", "pred"])
def test_png_id_missing_from_json(data: CocoSet, side: str) -> None:
    path = data.gt_json if side == "gt" else data.pred_json
    _edit_json(path, _drop_first_segment(side))
    folder = data.gt_folder if side == "gt" else data.pred_folder
    name = json.loads(path.read_text())["annotations"][0]["file_name"]
    _expect(data, r"segment id \d+ is in the PNG but not in the JSON segments_info", folder / name)


@pytest.mark.parametrize("side", ["gt", "pred"])
def test_json_id_missing_from_png(data: CocoSet, side: str) -> None:
    path = data.gt_json if side == "gt" else data.pred_json

    def edit(content: dict[str, Any]) -> None:
        content["annotations"][0]["segments_info"].append({"id": 123, "category_id": 3})

    _edit_json(path, edit)
    _expect(
        data, r"segment ids \[123\] are in the JSON segments_info but not in the PNG", path.name
    )


def test_duplicate_segment_ids(data: CocoSet) -> None:
    def edit(content: dict[str, Any]) -> None:
        segments = content["annotations"][2]["segments_info"]
        segments.append(dict(segments[0]))

    _edit_json(data.pred_json, edit)
    _expect(data, r"duplicate segment ids \[\d+\]", data.pred_json)


@pytest.mark.parametrize("side", ["gt", "pred"])
def test_unknown_category_ids(data: CocoSet, side: str) -> None:
    path = data.gt_json if side == "gt" else data.pred_json

    def edit(content: dict[str, Any]) -> None:
        content["annotations"][1]["segments_info"][0]["category_id"] = 999

    _edit_json(path, edit)
    _expect(data, r"unknown category ids \[999\]", path)


def test_ground_truth_image_without_prediction(data: CocoSet) -> None:
    _edit_json(data.pred_json, lambda c: c["annotations"].pop(3))
    _expect(data, "no prediction for 1 ground-truth image", data.pred_json)


def test_duplicate_image_id(data: CocoSet) -> None:
    _edit_json(data.pred_json, lambda c: c["annotations"].append(c["annotations"][0]))
    _expect(data, "duplicate image_id", data.pred_json)


@pytest.mark.parametrize(
    ("file_name", "message"),
    [
        ("../gt/0.png", "points outside its folder"),
        ("sub/../../x.png", "points outside its folder"),
        ("/etc/passwd", "is an absolute path"),
        ("C:\\\\x.png", "is an absolute path"),
        ("\\\\server\\\\share\\\\x.png", "is an absolute path"),
        (7, "is not a valid file name"),
    ],
)
def test_file_name_outside_its_folder(data: CocoSet, file_name: Any, message: str) -> None:
    def edit(content: dict[str, Any]) -> None:
        content["annotations"][0]["file_name"] = json.loads(json.dumps(file_name))

    _edit_json(data.pred_json, edit)
    _expect(data, message, data.pred_json)


def test_bad_segment_fields(data: CocoSet) -> None:
    def crowd(content: dict[str, Any]) -> None:
        content["annotations"][0]["segments_info"][0]["iscrowd"] = 2

    _edit_json(data.gt_json, crowd)
    _expect(data, r"has iscrowd=2, expected 0 or 1", data.gt_json)


def test_missing_folder_and_broken_json(data: CocoSet) -> None:
    shutil.rmtree(data.pred_folder)
    _expect(data, "folder not found", data.pred_folder)
    data.pred_folder.mkdir()
    data.pred_json.write_text("{ not json")
    _expect(data, "invalid JSON", data.pred_json)


def _set_segment_field(key: str, value: Any, annotation: int = 0):  # type: ignore[no-untyped-def]
    def edit(content: dict[str, Any]) -> None:
        content["annotations"][annotation]["segments_info"][0][key] = value

    return edit


@pytest.mark.parametrize("side", ["gt", "pred"])
@pytest.mark.parametrize("key", ["id", "category_id", "area"])
@pytest.mark.parametrize("value", [2**63, 2**64 + 1, 2**70, 1e300])
def test_json_values_beyond_64_bits_are_refused_by_name(
    data: CocoSet, side: str, key: str, value: Any
) -> None:
    """Issue 11: these raised OverflowError from numpy (a traceback, exit 1)."""
    path = data.gt_json if side == "gt" else data.pred_json
    _edit_json(path, _set_segment_field(key, value))
    shown = "1e+300" if isinstance(value, float) else str(value)
    _expect(data, f"{key}[ =]{re.escape(shown)}", path)


@pytest.mark.parametrize(
    ("categories", "message"),
    [
        (5, "expected a list of categories, got 5"),
        ({"id": 1}, "expected a list of categories"),
        ([{"id": 2**70}], "no 64-bit integer id"),
        ([{"id": 1, "name": "\ud800"}], "has name='\\ud800'"),
        ([1, 2], "category #0 is not an object"),
    ],
)
def test_bad_category_lists_are_refused_by_name(
    data: CocoSet, categories: Any, message: str
) -> None:
    def edit(content: dict[str, Any]) -> None:
        content["categories"] = categories

    _edit_json(data.gt_json, edit)
    _expect(data, re.escape(message), data.gt_json)


@pytest.mark.parametrize("image_id", [2**64, "\udc80x"])
def test_bad_image_ids_are_refused_by_name(data: CocoSet, image_id: Any) -> None:
    def edit(content: dict[str, Any]) -> None:
        content["annotations"][0]["image_id"] = image_id

    _edit_json(data.pred_json, edit)
    _expect(data, "image_id", data.pred_json)


def test_a_file_name_with_a_lone_surrogate_is_refused_by_name(data: CocoSet) -> None:
    """Issue 11: `"\\ud800"` raised UnicodeEncodeError when the PNG was opened."""

    def edit(content: dict[str, Any]) -> None:
        content["annotations"][0]["file_name"] = "\ud800.png"

    _edit_json(data.pred_json, edit)
    _expect(data, "is not a valid file name", data.pred_json)


def test_deeply_nested_json_is_refused_by_name(data: CocoSet) -> None:
    """Issue 11: 100,000 levels raised RecursionError."""
    data.pred_json.write_text("[" * 100_000 + "]" * 100_000)
    _expect(data, "nested too deeply", data.pred_json)
    data.pred_json.write_text('{"annotations": [' + "9" * 5000 + "]}")
    _expect(data, "invalid JSON", data.pred_json)


def test_interlaced_prediction_missing_its_last_pass_is_refused(data: CocoSet) -> None:
    """Issue 11: evaluated with exit 0 and PQ 0.417 instead of 1.0 when Pillow decoded it."""
    png = _first_png(data)
    with Image.open(png) as image:
        rgb = np.asarray(image.convert("RGB"))
    h, w = rgb.shape[:2]
    stream = b""
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4)):
        stream += b"".join(b"\x00" + row.tobytes() for row in rgb[y0::dy, x0::dx])
    for x0, y0, dx, dy in ((0, 2, 2, 4), (1, 0, 2, 2)):  # passes 5 and 6; pass 7 missing
        stream += b"".join(b"\x00" + row.tobytes() for row in rgb[y0::dy, x0::dx])
    _png(png, w, h, 8, 2, stream, interlace=1)
    _expect(data, "0 of 24 rows of Adam7 pass 7", png)
    whole = stream + b"".join(b"\x00" + row.tobytes() for row in rgb[1::2])
    _png(png, w, h, 8, 2, whole, interlace=1)
    ids = rgb.astype(np.int64) @ np.array([1, 256, 65536])
    assert np.array_equal(read_panoptic_png(png), ids)


def test_two_to_the_27_pixels_wide_interlaced_png_is_refused_by_name(tmp_path: Path) -> None:
    """Issue 11: a bare MemoryError from Pillow's overflow guard."""
    path = tmp_path / "wide.png"
    _png(path, 2**27, 1, 8, 2, b"\0\0\0\0", interlace=1)
    with pytest.raises(PanopticInputError, match="truncated image data") as err:
        read_panoptic_png(path)
    assert str(path) in str(err.value)
