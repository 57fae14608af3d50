"""The speed benchmark's workload: seeded ground-truth/prediction pairs in COCO-panoptic format.

Ground truth comes from the project's synthetic street scenes (`reference_model.synthetic`)
at the Cityscapes size, 1024x2048. Those scenes hold 10 to 20 segments; Cityscapes
validation images about 36 (benchmark/README.md), so `extra_things` distant cars and people are
added, in the scene's thing classes and Cityscapes' instance-id encoding, before the
project's own Cityscapes -> COCO-panoptic conversion (`panoptic_segments`: crowd groups and
void labels as cityscapesscripts makes them). Predictions perturb the ground truth the way
models err: wobbly boundaries (a smooth random displacement), missed and misclassified
instances, split instances, wrong stuff, false positives and void holes; their segment ids
are random 24-bit values. Written once per specification and reused (the folder is renamed
into place only when complete).

The second workload, `kind="coco"` (`COCO`), is COCO-panoptic-like: 480x640 images with about
20 segments each, a few stuff regions (a random Voronoi partition) under many things whose
areas are log-uniform, so most are small, as in COCO; some images carry a crowd region and
void holes. Its images are small, so the per-image cost of an evaluator (JSON, process-pool
messages, Python per image) weighs more than on the Cityscapes workload.
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from reference_model.synthetic import CLASSES, THINGS, coco_categories, ids_to_rgb
from reference_model.synthetic import panoptic_segments as cityscapes_segments
from reference_model.synthetic.classes import BY_NAME, INSTANCE_DIVISOR
from reference_model.synthetic.scene import compose_scene

GENERATOR_VERSION = 1
STUFF_IDS = [c.label_id for c in CLASSES if not c.isthing]
THING_IDS = [c.label_id for c in THINGS]


@dataclass(frozen=True)
class WorkloadSpec:
    """What to generate; the cache folder is named after it."""

    pairs: int = 500  # the size of Cityscapes validation, as the reference profile (README)
    height: int = 1024  # the Cityscapes image size
    width: int = 2048
    seed: int = 0
    extra_things: int = 22  # distant instances: ~14 scene segments + 22 ~ Cityscapes' 36
    kind: str = "cityscapes"  # or "coco": the COCO-like scenes of `coco_ground_truth`

    def __post_init__(self) -> None:
        if self.kind not in WORKLOADS:
            raise ValueError(f"unknown workload kind {self.kind!r}; known: {sorted(WORKLOADS)}")

    @property
    def name(self) -> str:
        size = f"{self.pairs}x{self.height}x{self.width}-s{self.seed}"
        if self.kind == "coco":
            return f"speed-coco-{size}"
        return f"speed-{size}-e{self.extra_things}"


WORKLOADS = ("cityscapes", "coco")
COCO = WorkloadSpec(pairs=5000, height=480, width=640, extra_things=0, kind="coco")


@dataclass(frozen=True)
class Workload:
    """A generated workload on disk, in the layout every peer evaluator reads."""

    root: Path
    spec: WorkloadSpec

    @property
    def gt_json(self) -> Path:
        return self.root / "gt.json"

    @property
    def gt_folder(self) -> Path:
        return self.root / "gt"

    @property
    def pred_json(self) -> Path:
        return self.root / "pred.json"

    @property
    def pred_folder(self) -> Path:
        return self.root / "pred"

    @classmethod
    def load(cls, root: Path) -> Workload:
        """The workload generated in folder `root`."""
        stored = json.loads((root / "workload.json").read_text())
        fields = {k: stored[k] for k in WorkloadSpec.__dataclass_fields__ if k in stored}
        return cls(root, WorkloadSpec(**fields))

    def stats(self) -> dict[str, float]:
        """Segments per image, crowd and void, from the manifest written at generation."""
        return dict(json.loads((self.root / "workload.json").read_text())["stats"])


def _manifest_key(spec: WorkloadSpec) -> dict[str, Any]:
    fields = asdict(spec)
    if spec.kind == "cityscapes":  # as before the kinds: existing caches stay valid
        del fields["kind"]
    return {"generator": "benchmark.speed_workload", "version": GENERATOR_VERSION, **fields}


def make_workload(
    cache: str | os.PathLike[str], spec: WorkloadSpec, *, workers: int = 1, progress: bool = False
) -> Workload:
    """The workload of `spec` under `cache`, generated unless a complete one is already there."""
    root = Path(cache) / spec.name
    manifest = root / "workload.json"
    if manifest.exists():
        stored = json.loads(manifest.read_text())
        if {k: stored.get(k) for k in _manifest_key(spec)} == _manifest_key(spec):
            return Workload(root, spec)
    part = root.with_name(root.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    (part / "gt").mkdir(parents=True)
    (part / "pred").mkdir()
    jobs = [(part, spec, i) for i in range(spec.pairs)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            entries = list(_progress(pool.map(_write_pair, jobs, chunksize=4), spec, progress))
    else:
        entries = list(_progress(map(_write_pair, jobs), spec, progress))
    images = [e["image"] for e in entries]
    categories = coco_categories()
    gt = {"images": images, "annotations": [e["gt"] for e in entries], "categories": categories}
    pred = {"images": images, "annotations": [e["pred"] for e in entries], "categories": categories}
    (part / "gt.json").write_text(json.dumps(gt))
    (part / "pred.json").write_text(json.dumps(pred))
    stats = _stats(entries, spec)
    (part / "workload.json").write_text(json.dumps({**_manifest_key(spec), "stats": stats}))
    shutil.rmtree(root, ignore_errors=True)
    os.replace(part, root)
    return Workload(root, spec)


def _progress(items: Iterator[Any], spec: WorkloadSpec, enabled: bool) -> Iterator[Any]:
    if not enabled:
        return items
    from tqdm import tqdm

    return iter(tqdm(items, total=spec.pairs, desc=f"workload {spec.name}", unit="pair"))


def _stats(entries: list[dict[str, Any]], spec: WorkloadSpec) -> dict[str, float]:
    gt = [e["gt"]["segments_info"] for e in entries]
    pixels = spec.height * spec.width
    return {
        "gt_segments_per_image": float(np.mean([len(s) for s in gt])),
        "pred_segments_per_image": float(
            np.mean([len(e["pred"]["segments_info"]) for e in entries])
        ),
        "images_with_crowd": float(np.mean([any(x["iscrowd"] for x in s) for s in gt])),
        "gt_void_fraction": float(np.mean([1 - sum(x["area"] for x in s) / pixels for s in gt])),
        "pred_void_fraction": float(
            np.mean(
                [1 - sum(x["area"] for x in e["pred"]["segments_info"]) / pixels for e in entries]
            )
        ),
    }


def _write_pair(job: tuple[Path, WorkloadSpec, int]) -> dict[str, Any]:
    root, spec, index = job
    gt_ids, gt_segments = ground_truth(spec, index)
    pred_ids, pred_segments = prediction(gt_ids, gt_segments, spec, index)
    name = f"{index + 1:06d}.png"
    Image.fromarray(ids_to_rgb(gt_ids)).save(root / "gt" / name)
    Image.fromarray(ids_to_rgb(pred_ids)).save(root / "pred" / name)
    image_id = index + 1  # integers: hotcoco refuses string image ids
    return {
        "image": {
            "id": image_id,
            "file_name": f"{index + 1:06d}.jpg",
            "height": spec.height,
            "width": spec.width,
        },
        "gt": {"image_id": image_id, "file_name": name, "segments_info": gt_segments},
        "pred": {"image_id": image_id, "file_name": name, "segments_info": pred_segments},
    }


def ground_truth(spec: WorkloadSpec, index: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Segment ids (H, W) int64 and `segments_info` of ground-truth image `index`."""
    if spec.kind == "coco":
        return coco_ground_truth(spec, index)
    # The scene of `reference_model.synthetic.make_sample("val", index, ...)`, without its
    # rendering (the benchmark needs no RGB image).
    rng = np.random.default_rng([spec.seed, zlib.crc32(b"val"), index])
    ids = compose_scene(rng, spec.height, spec.width, CLASSES[index % len(CLASSES)]).ids
    _add_distant_things(ids, spec.extra_things, np.random.default_rng([spec.seed, 1, index]))
    return cityscapes_segments(ids)


def coco_ground_truth(spec: WorkloadSpec, index: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """A COCO-like image: stuff regions under ~14 things, mostly small; crowd and void at times."""
    rng = np.random.default_rng([spec.seed, 3, index])
    h, w = spec.height, spec.width
    seeds = rng.uniform(0, 1, size=(int(rng.integers(4, 8)), 2)) * (h, w)
    yy, xx = np.mgrid[0:h, 0:w]
    nearest = np.argmin([(yy - y) ** 2 + (xx - x) ** 2 for y, x in seeds], axis=0)
    stuff = rng.choice(STUFF_IDS, size=len(seeds), replace=False)
    ids = stuff[nearest].astype(np.int64)
    count = int(rng.integers(10, 19))
    # COCO: about 40% of instances are small (< 32^2 px of 480x640), a quarter large (> 96^2)
    areas = np.sort(np.exp(rng.uniform(np.log(60), np.log(0.2 * h * w), size=count)))[::-1]
    for k, area in enumerate(areas):  # largest first: small things lie on top
        aspect = np.exp(rng.uniform(-0.8, 0.8))
        ry, rx = np.sqrt(area / np.pi * aspect), np.sqrt(area / np.pi / aspect)
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        y0, y1 = max(0, int(cy - ry)), min(h, int(cy + ry) + 1)
        x0, x1 = max(0, int(cx - rx)), min(w, int(cx + rx) + 1)
        inside = ((yy[y0:y1, x0:x1] - cy) / ry) ** 2 + ((xx[y0:y1, x0:x1] - cx) / rx) ** 2 <= 1
        label = int(rng.choice(THING_IDS))
        crowd = k == 0 and rng.random() < 0.3  # a crowd group: a thing label without instance
        value = label if crowd else label * INSTANCE_DIVISOR + k
        ids[y0:y1, x0:x1][inside] = value
    for _ in range(int(rng.integers(0, 3))):  # void holes (unlabeled, as COCO's unannotated)
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        size = rng.integers(h // 60 + 1, h // 12 + 2, size=2)
        ids[y : y + size[0], x : x + size[1]] = 0
    return cityscapes_segments(ids)


def _add_distant_things(ids: np.ndarray, count: int, rng: np.random.Generator) -> None:
    """Paint `count` small cars, people and bicycles (boxes) near the horizon: new instances."""
    h, w = ids.shape
    shapes = {"car": (0.08, 1.9), "person": (0.10, 0.4), "bicycle": (0.07, 1.5)}
    names = rng.choice(list(shapes), size=count, p=[0.5, 0.4, 0.1])
    for k, name in enumerate(names):
        rel_h, aspect = shapes[str(name)]
        bottom = h * rng.uniform(0.48, 0.7)
        oh = max(4.0, rel_h * h * (bottom / h - 0.4) / 0.3 * rng.uniform(0.6, 1.2))
        ow = max(2.0, oh * aspect * rng.uniform(0.8, 1.2))
        x0 = rng.uniform(0, w - ow)
        y0, y1, x1 = int(bottom - oh), int(bottom), int(x0 + ow)
        value = BY_NAME[str(name)].label_id * INSTANCE_DIVISOR + 500 + k  # new instance ids
        ids[y0:y1, int(x0) : x1] = value


def prediction(
    gt_ids: np.ndarray, gt_segments: list[dict[str, Any]], spec: WorkloadSpec, index: int
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """A prediction for ground truth `gt_ids`: segment ids (H, W) int64 and `segments_info`."""
    rng = np.random.default_rng([spec.seed, 2, index])
    h, w = gt_ids.shape
    known = np.array(sorted(s["id"] for s in gt_segments), dtype=np.int64)
    labels = np.searchsorted(known, gt_ids) + 1  # 1..n for gt segments
    labels[gt_ids == 0] = 0
    labels = _warp(labels, rng)
    by_id = {s["id"]: s for s in gt_segments}
    category = [0] + [by_id[int(i)]["category_id"] for i in known]  # per label; 0 = void
    for label in range(1, len(category)):
        category[label] = _perturb(labels, label, category, rng)
    for _ in range(int(rng.integers(0, 4))):  # false positives
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        size = rng.integers(h // 50 + 2, h // 7 + 3, size=2)
        labels[y : y + size[0], x : x + size[1]] = len(category)
        category.append(int(rng.choice(THING_IDS)))
    for _ in range(int(rng.integers(0, 3))):  # void holes
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        size = rng.integers(h // 60 + 1, h // 12 + 2, size=2)
        labels[y : y + size[0], x : x + size[1]] = 0
    return _segments(labels, np.array(category), rng)


def _warp(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Wobbly boundaries: sample the map through a smooth random displacement of a few pixels."""
    h, w = labels.shape
    amplitude = rng.uniform(1.5, 4.0)
    coarse = rng.normal(0.0, amplitude, size=(2, h // 64 + 2, w // 64 + 2)).astype(np.float32)
    dy, dx = (
        np.asarray(Image.fromarray(c).resize((w, h), Image.Resampling.BILINEAR)) for c in coarse
    )
    yy = np.clip(np.rint(np.arange(h)[:, None] + dy), 0, h - 1).astype(np.intp)
    xx = np.clip(np.rint(np.arange(w)[None, :] + dx), 0, w - 1).astype(np.intp)
    warped: np.ndarray = labels[yy, xx]
    return warped


def _perturb(labels: np.ndarray, label: int, category: list[int], rng: np.random.Generator) -> int:
    """Miss, misclassify or split segment `label` (in place); returns its predicted category."""
    cat = category[label]
    draw = rng.random()
    if cat in THING_IDS:
        if draw < 0.08:  # missed: void
            labels[labels == label] = 0
        elif draw < 0.16:
            return int(rng.choice([c for c in THING_IDS if c != cat]))
        elif draw < 0.21:  # split in two halves side by side
            ys, xs = np.nonzero(labels == label)
            if len(xs) > 1:
                right = xs > np.median(xs)
                labels[ys[right], xs[right]] = len(category)
                category.append(cat)
    elif draw < 0.05:
        return int(rng.choice([c for c in STUFF_IDS if c != cat]))
    return cat


def _segments(
    labels: np.ndarray, category: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Random 24-bit segment ids for the labels present, and their `segments_info`."""
    h, w = labels.shape
    n = len(category)
    area = np.bincount(labels.ravel(), minlength=n)
    rows = np.bincount((labels * h + np.arange(h)[:, None]).ravel(), minlength=n * h).reshape(n, h)
    cols = np.bincount((labels * w + np.arange(w)[None, :]).ravel(), minlength=n * w).reshape(n, w)
    ids = np.zeros(n, dtype=np.int64)
    present = [label for label in range(1, n) if area[label] > 0]
    ids[present] = rng.choice(2**24 - 1, size=len(present), replace=False) + 1
    segments = []
    for label in present:
        ys, xs = np.flatnonzero(rows[label]), np.flatnonzero(cols[label])
        segments.append(
            {
                "id": int(ids[label]),
                "category_id": int(category[label]),
                "iscrowd": 0,
                "area": int(area[label]),
                "bbox": [int(xs[0]), int(ys[0]), int(xs[-1] - xs[0] + 1), int(ys[-1] - ys[0] + 1)],
            }
        )
    return ids[labels], segments
