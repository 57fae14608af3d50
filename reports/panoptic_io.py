"""Safe reading of COCO-panoptic files for the qualitative panels (JSON, id PNGs, images).

Every problem raises `ReportInputError` naming the file and what is wrong: a `file_name`
that points outside its folder, an unreadable or oversized PNG, a size that differs from the
ground truth. The panels catch it and show a notice instead of the picture.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np
from PIL import Image

# Refuse images above this many pixels before decoding them (4x a 1080x1920 Vistas image
# would already be far beyond what a panel shows; Cityscapes is 1024x2048 = 2.1 Mpx).
MAX_PIXELS = 64 * 1024 * 1024


class ReportInputError(ValueError):
    """An input file of the report is missing, malformed or unsafe; the message names it."""


@dataclass(frozen=True)
class PanopticImage:
    """One annotation of a COCO-panoptic JSON: the PNG path and the segment categories."""

    image_id: str
    png: Path
    categories: dict[int, int]  # segment id -> category id
    crowd: frozenset[int]  # segment ids flagged iscrowd


def child_path(folder: Path, name: Any, source: Path) -> Path:
    """`folder / name` if `name` is a plain relative path staying inside `folder`."""
    if not isinstance(name, str) or not name:
        raise ReportInputError(f"{source}: file_name {name!r} is not a non-empty string")
    pure = PurePosixPath(name)
    if pure.is_absolute() or PureWindowsPath(name).is_absolute() or ".." in pure.parts:
        raise ReportInputError(f"{source}: file_name {name!r} points outside {folder}")
    path = folder / pure
    if not path.resolve().is_relative_to(folder.resolve()):
        raise ReportInputError(f"{source}: file_name {name!r} points outside {folder}")
    return path


def read_panoptic_json(path: Path, png_folder: Path) -> dict[str, PanopticImage]:
    """The annotations of a COCO-panoptic JSON by image id (as a string)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportInputError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ReportInputError(f"{path} is unreadable or not valid JSON: {err}") from None
    annotations = data.get("annotations") if isinstance(data, Mapping) else None
    if not isinstance(annotations, list):
        raise ReportInputError(f"{path} has no `annotations` list")
    out: dict[str, PanopticImage] = {}
    for ann in annotations:
        if not isinstance(ann, Mapping) or not isinstance(ann.get("segments_info"), list):
            raise ReportInputError(f"{path}: an annotation lacks `segments_info`")
        cats, crowd = {}, set()
        for seg in ann["segments_info"]:
            if not isinstance(seg, Mapping) or not all(
                isinstance(seg.get(k), int) for k in ("id", "category_id")
            ):
                raise ReportInputError(f"{path}: a segment of {ann.get('image_id')!r} lacks ids")
            cats[int(seg["id"])] = int(seg["category_id"])
            if seg.get("iscrowd"):
                crowd.add(int(seg["id"]))
        image_id = str(ann.get("image_id"))
        png = child_path(png_folder, ann.get("file_name"), path)
        out[image_id] = PanopticImage(image_id, png, cats, frozenset(crowd))
    return out


def _open(path: Path) -> Image.Image:
    if not path.is_file():
        raise ReportInputError(f"{path} is missing")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            if image.width * image.height > MAX_PIXELS:
                raise ReportInputError(
                    f"{path} is {image.width}x{image.height}, over the {MAX_PIXELS} pixel limit"
                )
            image.load()
    except ReportInputError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as err:
        raise ReportInputError(f"{path} is not a readable image: {err}") from None
    return image


def read_segment_ids(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """Segment ids (H, W) int64 of an RGB-encoded panoptic PNG (id = R + 256 G + 256² B)."""
    image = _open(path)
    if image.mode not in ("RGB", "RGBA", "P", "L", "I", "I;16"):
        raise ReportInputError(f"{path} has PNG mode {image.mode}, expected RGB")
    if size is not None and (image.height, image.width) != size:
        raise ReportInputError(
            f"{path} is {image.height}x{image.width}, the ground truth is {size[0]}x{size[1]}"
        )
    rgb = np.asarray(image.convert("RGB"), dtype=np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def read_rgb(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """An image as (H, W, 3) uint8; resized to `size` (H, W) if given and different."""
    image = _open(path).convert("RGB")
    if size is not None and (image.height, image.width) != size:
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)
