"""The thing instances of a COCO-panoptic ground truth (JSON + folder of RGB-id PNGs), for
mask AP: thing segments become instances, crowd segments ``iscrowd`` instances.

This reader is deliberately strict and small; the library's fast panoptic PNG decoder can
replace `_read_id_png` without changing anything else.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .coco_instances import ImageId, ImageInstances, encode_masks

__all__ = ["MAX_PIXELS", "read_panoptic_instances"]

MAX_PIXELS = 1 << 28  # refuse larger images (decompression bombs); Cityscapes has 2**21


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def load_json(path: Path) -> Any:
    """Parse a JSON file; errors name the file."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None


def _safe_join(folder: Path, file_name: Any, json_path: Path) -> Path:
    """`folder / file_name`, refusing names that leave the folder."""
    if not isinstance(file_name, str) or not file_name:
        raise ValueError(f"{json_path}: file_name must be a non-empty string, got {file_name!r}")
    relative = Path(file_name)
    outside = relative.is_absolute() or ".." in relative.parts
    if outside or not (folder / relative).resolve().is_relative_to(folder.resolve()):
        raise ValueError(f"{json_path}: file_name {file_name!r} points outside {folder}")
    return folder / relative


def _read_id_png(path: Path, height: int, width: int) -> np.ndarray:
    """Segment ids (H, W) int64 of an RGB panoptic PNG (id = R + 256 G + 256^2 B)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such PNG")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.format != "PNG":
                    raise ValueError(f"{path}: expected a PNG, got {image.format}")
                if image.size != (width, height):
                    raise ValueError(
                        f"{path}: the PNG is {image.size[0]}x{image.size[1]} (WxH) but the JSON "
                        f"says {width}x{height}"
                    )
                if image.mode != "RGB":
                    raise ValueError(f"{path}: expected an RGB PNG, got mode {image.mode}")
                rgb = np.asarray(image, dtype=np.uint8)
    except (
        OSError,
        SyntaxError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as e:
        raise ValueError(f"{path}: cannot read the PNG ({type(e).__name__}: {e})") from None
    rgb = rgb.astype(np.int64)
    return rgb[..., 0] | (rgb[..., 1] << 8) | (rgb[..., 2] << 16)


def _image_sizes(data: Mapping[str, Any], json_path: Path) -> dict[ImageId, tuple[int, int]]:
    sizes: dict[ImageId, tuple[int, int]] = {}
    for k, image in enumerate(data["images"]):
        try:
            image_id, h, w = image["id"], int(image["height"]), int(image["width"])
        except (TypeError, KeyError, ValueError):
            raise ValueError(
                f"{json_path}: images[{k}] needs an id, a height and a width"
            ) from None
        if h <= 0 or w <= 0 or h * w > MAX_PIXELS:
            raise ValueError(f"{json_path}: image {image_id!r} has an invalid size {h}x{w}")
        sizes[image_id] = (h, w)
    return sizes


def _segment_ids(segments: Any, where: str) -> np.ndarray:
    """The segment ids of a segments_info list, checked: positive, unique integers."""
    if not isinstance(segments, list):
        raise ValueError(f"{where}: segments_info must be a list")
    if not all(isinstance(s, Mapping) and _is_int(s.get("id")) and s["id"] > 0 for s in segments):
        raise ValueError(f"{where}: every segment needs a positive integer id")
    seg_ids = np.array([s["id"] for s in segments], dtype=np.int64)
    if len(np.unique(seg_ids)) != len(seg_ids):
        raise ValueError(f"{where}: duplicate segment ids in segments_info")
    return seg_ids


def _check_ids(ids: np.ndarray, seg_ids: np.ndarray, path: Path) -> None:
    """Every non-zero id of the PNG must be listed, and every listed segment have pixels."""
    sorted_ids = np.sort(seg_ids)
    if len(sorted_ids) == 0:
        if np.any(ids):
            raise ValueError(f"{path}: segment id {int(ids[ids != 0][0])} is not in the JSON")
        return
    rank = np.clip(np.searchsorted(sorted_ids, ids), 0, len(sorted_ids) - 1)
    unknown = (ids != 0) & (sorted_ids[rank] != ids)
    if np.any(unknown):
        raise ValueError(f"{path}: segment id {int(ids[unknown][0])} is in the PNG, not the JSON")
    areas = np.bincount(rank[ids != 0], minlength=len(sorted_ids))
    if np.any(areas == 0):
        missing = int(sorted_ids[areas == 0][0])
        raise ValueError(f"{path}: segment id {missing} is in the JSON but not in the PNG")


def _image_instances(
    annotation: Mapping[str, Any],
    folder: Path,
    json_path: Path,
    size: tuple[int, int],
    things: Mapping[Any, bool],
    selected: Collection[int],
) -> ImageInstances:
    """Read one annotation's PNG and turn its segments of `selected` categories into instances."""
    path = _safe_join(folder, annotation.get("file_name"), json_path)
    segments = annotation.get("segments_info")
    seg_ids = _segment_ids(segments, f"{json_path}: {path.name}")
    assert isinstance(segments, list)  # checked by _segment_ids
    for segment in segments:
        if segment.get("category_id") not in things:
            raise ValueError(
                f"{json_path}: {path.name}: unknown category id {segment.get('category_id')!r}"
            )
    ids = _read_id_png(path, *size)
    _check_ids(ids, seg_ids, path)
    keep = [k for k, s in enumerate(segments) if s["category_id"] in selected]
    stack = np.zeros((len(keep), *size), dtype=bool)
    for row, k in enumerate(keep):
        np.equal(ids, seg_ids[k], out=stack[row])
    return ImageInstances(
        height=size[0],
        width=size[1],
        category_ids=tuple(int(segments[k]["category_id"]) for k in keep),
        rles=tuple(encode_masks(stack)),
        iscrowd=tuple(bool(segments[k].get("iscrowd", 0)) for k in keep),
    )


def read_panoptic_instances(
    json_path: str | Path, folder: str | Path, thing_ids: Collection[int] | None = None
) -> tuple[list[dict[str, Any]], dict[ImageId, ImageInstances]]:
    """The thing instances of a COCO-panoptic ground truth.

    Thing segments (category ``isthing`` = 1) become instances, crowd segments become
    ``iscrowd`` instances; stuff and void are not instances. Areas are pixel counts.

    Args:
        json_path: the COCO-panoptic JSON (``images``, ``annotations``, ``categories``).
        folder: the folder of its PNGs (``file_name`` of each annotation, inside the folder).
        thing_ids: keep only instances of these thing categories (default: all things);
            checked against the JSON's categories before any PNG is read.

    Returns:
        ``(categories, instances)``: the JSON's category list, and the instances of every
        annotated image keyed by image id.

    Raises:
        FileNotFoundError, ValueError: naming the file and the problem.
    """
    json_path, folder = Path(json_path), Path(folder)
    data = load_json(json_path)
    if not isinstance(data, Mapping) or not all(
        isinstance(data.get(key), list) for key in ("images", "annotations", "categories")
    ):
        raise ValueError(f"{json_path}: expected a COCO-panoptic JSON (images, annotations, ...)")
    try:
        things = {c["id"]: bool(c.get("isthing", 0)) for c in data["categories"]}
    except (TypeError, KeyError, AttributeError):
        raise ValueError(f"{json_path}: every category needs an id") from None
    selected = frozenset(c for c, isthing in things.items() if isthing)
    if thing_ids is not None:
        for category in thing_ids:
            if category not in selected:
                raise ValueError(f"{json_path}: category {category} is not a thing category there")
        selected = frozenset(thing_ids)
    sizes = _image_sizes(data, json_path)
    instances: dict[ImageId, ImageInstances] = {}
    for annotation in data["annotations"]:
        image_id = annotation.get("image_id") if isinstance(annotation, Mapping) else None
        if image_id not in sizes:
            raise ValueError(f"{json_path}: an annotation's image_id {image_id!r} is not in images")
        if image_id in instances:
            raise ValueError(f"{json_path}: image {image_id!r} has two annotations")
        instances[image_id] = _image_instances(
            annotation, folder, json_path, sizes[image_id], things, selected
        )
    return list(data["categories"]), instances
