"""Write the synthetic dataset in the Cityscapes layout, with COCO-panoptic ground truth.

Layout under the output folder (the same as Cityscapes after cityscapesscripts'
`createPanopticImgs`, so the Cityscapes readers read it unchanged):

    leftImg8bit/{split}/synth{split}/{name}_leftImg8bit.png        RGB image
    gtFine/{split}/synth{split}/{name}_gtFine_labelIds.png         uint8 label ids
    gtFine/{split}/synth{split}/{name}_gtFine_instanceIds.png      uint16 instance ids
    gtFine/cityscapes_panoptic_{split}/{name}_gtFine_panoptic.png  RGB-encoded segment ids
    gtFine/cityscapes_panoptic_{split}.json                        COCO-panoptic JSON
    synthetic.json                                                 how it was generated

Image `i` of a split depends only on (seed, split, i, size): a dataset regenerated with more
images keeps the first ones identical.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from panoptic_metrics.io import ids_to_rgb, write_json_atomic, write_png_atomic

from .appearance import render
from .classes import BY_LABEL_ID, CLASSES, INSTANCE_DIVISOR, coco_categories
from .scene import class_of, compose_scene

log = logging.getLogger(__name__)

GENERATOR_VERSION = 1


@dataclass(frozen=True)
class SyntheticSample:
    """One generated image with its Cityscapes-encoded ground truth."""

    name: str
    image: np.ndarray  # (H, W, 3) uint8
    instance_ids: np.ndarray  # (H, W) int32, Cityscapes instanceIds encoding

    @property
    def label_ids(self) -> np.ndarray:
        return class_of(self.instance_ids).astype(np.uint8)


def sample_name(split: str, index: int) -> str:
    """The Cityscapes-style image id `{city}_{sequence:06d}_{frame:06d}` of image `index`."""
    return f"synth{split}_{index:06d}_000019"


def make_sample(split: str, index: int, *, seed: int, height: int, width: int) -> SyntheticSample:
    """Generate image `index` of `split`; deterministic in all its arguments."""
    split_code = zlib.crc32(split.encode())  # stable across runs, unlike hash()
    rng = np.random.default_rng([seed, split_code, index])
    forced = CLASSES[index % len(CLASSES)]  # every class appears in any 19 consecutive images
    scene = compose_scene(rng, height, width, forced)
    image = render(scene.ids, scene.tints, rng)
    return SyntheticSample(sample_name(split, index), image, scene.ids)


def panoptic_segments(instance_ids: np.ndarray) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """COCO-panoptic segment id map and `segments_info` from an instanceIds map.

    Follows cityscapesscripts' conversion: the segment id is the instance id; ids below 1000
    of thing classes are crowd groups; void labels are dropped (segment id 0).
    """
    values, inverse = np.unique(instance_ids, return_inverse=True)
    inverse = inverse.reshape(instance_ids.shape)
    areas = np.bincount(inverse.ravel(), minlength=len(values))
    rows_any = np.zeros((len(values), instance_ids.shape[0]), dtype=bool)
    cols_any = np.zeros((len(values), instance_ids.shape[1]), dtype=bool)
    rr, cc = np.indices(instance_ids.shape)
    rows_any[inverse.ravel(), rr.ravel()] = True
    cols_any[inverse.ravel(), cc.ravel()] = True
    keep = np.zeros(len(values), dtype=bool)
    segments: list[dict[str, Any]] = []
    for k, value in enumerate(values.tolist()):
        label = value // INSTANCE_DIVISOR if value >= INSTANCE_DIVISOR else value
        cls = BY_LABEL_ID.get(label)
        if cls is None:  # a void label: not a segment
            continue
        keep[k] = True
        ys, xs = np.flatnonzero(rows_any[k]), np.flatnonzero(cols_any[k])
        segments.append(
            {
                "id": int(value),
                "category_id": cls.label_id,
                "area": int(areas[k]),
                "bbox": [int(xs[0]), int(ys[0]), int(xs[-1] - xs[0] + 1), int(ys[-1] - ys[0] + 1)],
                "iscrowd": int(cls.isthing and value < INSTANCE_DIVISOR),
            }
        )
    segment_ids = np.where(keep[inverse], instance_ids, 0).astype(np.int64)
    return segment_ids, segments


def _write_one(args: tuple[Path, str, int, int, int, int]) -> dict[str, Any]:
    root, split, index, seed, height, width = args
    sample = make_sample(split, index, seed=seed, height=height, width=width)
    city = sample.name.split("_")[0]
    gt_dir = root / "gtFine" / split / city
    write_png_atomic(
        sample.image, root / "leftImg8bit" / split / city / f"{sample.name}_leftImg8bit.png"
    )
    write_png_atomic(sample.label_ids, gt_dir / f"{sample.name}_gtFine_labelIds.png")
    write_png_atomic(
        sample.instance_ids.astype(np.uint16), gt_dir / f"{sample.name}_gtFine_instanceIds.png"
    )
    segment_ids, segments = panoptic_segments(sample.instance_ids)
    pan_name = f"{sample.name}_gtFine_panoptic.png"
    write_png_atomic(
        ids_to_rgb(segment_ids), root / "gtFine" / f"cityscapes_panoptic_{split}" / pan_name
    )
    return {
        "image": {
            "id": sample.name,
            "file_name": f"{sample.name}_leftImg8bit.png",
            "height": height,
            "width": width,
        },
        "annotation": {"image_id": sample.name, "file_name": pan_name, "segments_info": segments},
    }


def _progress(items: Iterable[Any], total: int, desc: str, enabled: bool) -> Iterator[Any]:
    if enabled:
        try:
            from tqdm import tqdm
        except ImportError:  # the metrics-only environment has no tqdm
            pass
        else:
            yield from tqdm(items, total=total, desc=desc, unit="img")
            return
    yield from items


def generate(
    root: str | os.PathLike[str],
    splits: Mapping[str, int],
    *,
    height: int = 256,
    width: int = 512,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Generate the dataset under `root`; returns the manifest also written to synthetic.json.

    Args:
        root: output folder (created if missing).
        splits: number of images per split, e.g. ``{"train": 100, "val": 30}``.
        height, width: image size in pixels (at least 32 each).
        seed: the dataset seed; image i of a split depends on (seed, split, i, size) only.
        workers: processes used to draw and encode images.
        progress: show a tqdm progress bar per split.
    """
    if height < 32 or width < 32:
        raise ValueError(f"height and width must be at least 32, got {height}x{width}")
    for split, count in splits.items():
        if not split.isalnum() or count < 0:
            raise ValueError(f"split names must be alphanumeric with a count >= 0: {split}={count}")
    root = Path(root)
    manifest: dict[str, Any] = {
        "generator": "reference_model.synthetic",
        "version": GENERATOR_VERSION,
        "seed": seed,
        "height": height,
        "width": width,
        "splits": dict(splits),
    }
    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    try:
        for split, count in splits.items():
            jobs = [(root, split, i, seed, height, width) for i in range(count)]
            results = pool.map(_write_one, jobs, chunksize=4) if pool else map(_write_one, jobs)
            entries = list(_progress(results, count, f"synthetic {split}", progress))
            write_json_atomic(
                {
                    "images": [e["image"] for e in entries],
                    "annotations": [e["annotation"] for e in entries],
                    "categories": coco_categories(),
                },
                root / "gtFine" / f"cityscapes_panoptic_{split}.json",
            )
            log.info("wrote %d %s images to %s", count, split, root)
    finally:
        if pool is not None:
            pool.shutdown()
    write_json_atomic(manifest, root / "synthetic.json")
    return manifest
