"""Small datasets written by the tests in each on-disk format the data pipeline reads.

Every writer draws the same hand-made scene (`scene()`), so the expected targets are known
exactly: two stuff bands, two thing instances, one crowd region and a void patch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from panoptic_metrics.io import ids_to_rgb
from PIL import Image

H, W = 48, 96


@dataclass(frozen=True)
class Scene:
    """Category ids per pixel, the segment id map, and the COCO `segments_info`."""

    ids: np.ndarray  # (H, W) int64 segment ids, 0 = void
    segments: list[dict[str, Any]]
    image: np.ndarray  # (H, W, 3) uint8


def scene(stuff: tuple[int, int], things: tuple[int, int], seed: int = 0) -> Scene:
    """Top band stuff[0], bottom band stuff[1]; an instance of each thing; a crowd region of
    things[0]; a void patch. Segment ids are large and arbitrary, as in COCO."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((H, W), dtype=np.int64)
    base = int(rng.integers(1000, 200_000))
    sid = {name: base + 7919 * k for k, name in enumerate(("top", "bottom", "a", "b", "crowd"))}
    ids[: H // 2] = sid["top"]
    ids[H // 2 :] = sid["bottom"]
    ids[4:20, 8:30] = sid["a"]  # thing a: rows 4..19, cols 8..29
    ids[26:44, 50:70] = sid["b"]  # thing b: rows 26..43, cols 50..69
    ids[30:40, 75:90] = sid["crowd"]
    ids[0:6, 80:96] = 0  # void
    cats = {"top": stuff[0], "bottom": stuff[1], "a": things[0], "b": things[1]}
    cats["crowd"] = things[0]
    segments = []
    for name, value in sid.items():
        ys, xs = np.nonzero(ids == value)
        segments.append(
            {
                "id": value,
                "category_id": cats[name],
                "iscrowd": int(name == "crowd"),
                "area": len(ys),
                "bbox": [int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1],
            }
        )
    image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    return Scene(ids, segments, image)


def write_png(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


# (id, name, isthing): deliberately things first and ids out of order, to test the
# stuff-first contiguous ordering.
CATEGORIES = [(24, "person", 1), (7, "road", 0), (26, "car", 1), (23, "sky", 0)]


def categories_json() -> list[dict[str, Any]]:
    return [
        {"id": i, "name": n, "isthing": t, "color": [i, i, i], "supercategory": "x"}
        for i, n, t in CATEGORIES
    ]


def write_coco_panoptic(
    json_path: Path,
    png_folder: Path,
    image_folder: Path,
    image_ids: list[str | int],
    *,
    image_ext: str = ".png",
    image_names: dict[str | int, str] | None = None,
) -> dict[str | int, Scene]:
    """A COCO-panoptic JSON + PNGs + images; returns the scene of each image id."""
    images, annotations, scenes = [], [], {}
    for k, image_id in enumerate(image_ids):
        sc = scene(stuff=(23, 7), things=(24, 26), seed=k)
        scenes[image_id] = sc
        name = (image_names or {}).get(image_id, f"{image_id}{image_ext}")
        image_folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(sc.image).save(image_folder / name, quality=95)
        write_png(ids_to_rgb(sc.ids), png_folder / f"{image_id}.png")
        images.append({"id": image_id, "file_name": name, "height": H, "width": W})
        annotations.append(
            {"image_id": image_id, "file_name": f"{image_id}.png", "segments_info": sc.segments}
        )
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories_json()})
    )
    return scenes


@pytest.fixture
def coco_root(tmp_path: Path) -> tuple[Path, dict[str | int, Scene]]:
    root = tmp_path / "coco"
    (root / "val2017").mkdir(parents=True)
    scenes = write_coco_panoptic(
        root / "annotations" / "panoptic_val2017.json",
        root / "annotations" / "panoptic_val2017",
        root / "val2017",
        [139, 285],
        image_ext=".jpg",
    )
    return root, scenes


@pytest.fixture
def vistas_root(tmp_path: Path) -> tuple[Path, dict[str | int, Scene]]:
    root = tmp_path / "vistas"
    (root / "validation" / "images").mkdir(parents=True)
    panoptic = root / "validation" / "v2.0" / "panoptic"
    scenes = write_coco_panoptic(
        panoptic / "panoptic_2020.json",
        panoptic,
        root / "validation" / "images",
        ["-0aBcD_key1", "zz_key2"],
        image_ext=".jpg",
    )
    return root, scenes


@pytest.fixture
def scene_size() -> tuple[int, int]:
    """(H, W) of every image the writers here make."""
    return H, W
