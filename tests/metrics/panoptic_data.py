"""Seeded panoptic test data: random maps, perturbed realistic predictions, COCO writers.

Random images are painted from rectangles (stuff bands, thing boxes, crowd boxes, void holes)
with random 24-bit segment ids; predictions jitter every gt rectangle so that IoUs spread over
(0, 1], relabel some, add spurious segments and void holes. Realistic predictions perturb the
synthetic street scenes of `reference_model.synthetic` (shift, merge, split, relabel, drop,
void holes, spurious segments).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from panoptic_metrics import PanopticResults
from PIL import Image

# Non-contiguous ids on purpose; 3 stuff and 3 thing classes.
CATEGORIES = [
    {"id": 3, "name": "road", "isthing": 0},
    {"id": 7, "name": "grass", "isthing": 0},
    {"id": 8, "name": "sky", "isthing": 0},
    {"id": 21, "name": "person", "isthing": 1},
    {"id": 22, "name": "car", "isthing": 1},
    {"id": 40, "name": "bike", "isthing": 1},
]
STUFF_IDS = [c["id"] for c in CATEGORIES if not c["isthing"]]
THING_IDS = [c["id"] for c in CATEGORIES if c["isthing"]]


@dataclass
class Annotated:
    """One image: segment-id map and COCO segments_info."""

    image_id: Any
    ids: np.ndarray
    segments: list[dict[str, Any]] = field(default_factory=list)


def _fresh_id(rng: np.random.Generator, used: set[int]) -> int:
    while True:
        value = int(rng.integers(1, 1 << 24))
        if value not in used:
            used.add(value)
            return value


def _box(rng: np.random.Generator, h: int, w: int, lo: float, hi: float) -> tuple[int, ...]:
    bh, bw = int(rng.uniform(lo, hi) * h) + 1, int(rng.uniform(lo, hi) * w) + 1
    y, x = int(rng.integers(0, max(1, h - bh + 1))), int(rng.integers(0, max(1, w - bw + 1)))
    return y, x, y + bh, x + bw


def finish(image_id: Any, ids: np.ndarray, meta: dict[int, tuple[int, int]]) -> Annotated:
    """segments_info of the ids still present in `ids` (area = pixel count)."""
    values, counts = np.unique(ids[ids > 0], return_counts=True)
    segments = [
        {"id": int(v), "category_id": meta[int(v)][0], "iscrowd": meta[int(v)][1], "area": int(n)}
        for v, n in zip(values.tolist(), counts.tolist(), strict=True)
    ]
    return Annotated(image_id, ids, segments)


def random_pair(
    rng: np.random.Generator, image_id: Any, h: int = 48, w: int = 64, crowd: bool = True
) -> tuple[Annotated, Annotated]:
    """A random gt image (stuff bands, things, crowd, void) and a jittered prediction."""
    gt = np.zeros((h, w), dtype=np.int64)
    pred = np.zeros((h, w), dtype=np.int64)
    used: set[int] = set()
    gmeta: dict[int, tuple[int, int]] = {}
    pmeta: dict[int, tuple[int, int]] = {}
    cuts = np.sort(rng.choice(np.arange(4, h - 4), size=2, replace=False))
    rows = np.split(np.arange(h), cuts)
    for band in rows:  # stuff bands; a class may repeat (two segments of one stuff class)
        cat = int(rng.choice(STUFF_IDS))
        sid = _fresh_id(rng, used)
        gt[band] = sid
        gmeta[sid] = (cat, 0)
        shift = int(rng.integers(-3, 4))
        pid = _fresh_id(rng, used)
        pred[np.clip(band + shift, 0, h - 1)] = pid
        pmeta[pid] = (cat if rng.random() < 0.9 else int(rng.choice(STUFF_IDS)), 0)
    for _ in range(int(rng.integers(2, 8))):
        _thing(rng, gt, pred, used, gmeta, pmeta, crowd and rng.random() < 0.2)
    for _ in range(int(rng.integers(0, 3))):  # spurious predictions
        y0, x0, y1, x1 = _box(rng, h, w, 0.05, 0.3)
        pid = _fresh_id(rng, used)
        pred[y0:y1, x0:x1] = pid
        pmeta[pid] = (int(rng.choice(STUFF_IDS + THING_IDS)), 0)
    for target in (gt, pred):  # void holes
        for _ in range(int(rng.integers(0, 3))):
            y0, x0, y1, x1 = _box(rng, h, w, 0.05, 0.35)
            target[y0:y1, x0:x1] = 0
    return finish(image_id, gt, gmeta), finish(image_id, pred, pmeta)


def _thing(
    rng: np.random.Generator,
    gt: np.ndarray,
    pred: np.ndarray,
    used: set[int],
    gmeta: dict[int, tuple[int, int]],
    pmeta: dict[int, tuple[int, int]],
    crowd: bool,
) -> None:
    h, w = gt.shape
    cat = int(rng.choice(THING_IDS))
    y0, x0, y1, x1 = _box(rng, h, w, 0.1, 0.5)
    sid = _fresh_id(rng, used)
    gt[y0:y1, x0:x1] = sid
    gmeta[sid] = (cat, int(crowd))
    if rng.random() < 0.1:
        return  # missed: a false negative
    jitter = rng.uniform(-0.3, 0.3, size=4) * np.array([y1 - y0, x1 - x0] * 2)
    py0, px0, py1, px1 = (np.array([y0, x0, y1, x1]) + jitter).round().astype(int)
    py0, py1 = np.clip([py0, py1], 0, h)
    px0, px1 = np.clip([px0, px1], 0, w)
    if py1 <= py0 or px1 <= px0:
        return
    pid = _fresh_id(rng, used)
    pred[py0:py1, px0:px1] = pid
    pmeta[pid] = (cat if rng.random() < 0.85 else int(rng.choice(THING_IDS)), 0)


def random_dataset(seed: int, n: int, **kwargs: Any) -> tuple[list[Annotated], list[Annotated]]:
    """`n` random pairs plus the edge cases: an all-void prediction, an all-void gt, both
    empty, and an image with two crowd segments of one class."""
    rng = np.random.default_rng(seed)
    pairs = [random_pair(rng, image_id=k, **kwargs) for k in range(n)]
    gts, preds = [p[0] for p in pairs], [p[1] for p in pairs]
    shape = gts[0].ids.shape
    gts.append(Annotated(n, gts[0].ids.copy(), [dict(s) for s in gts[0].segments]))
    preds.append(Annotated(n, np.zeros(shape, np.int64)))  # nothing predicted
    gts.append(Annotated(n + 1, np.zeros(shape, np.int64)))  # nothing to find
    preds.append(Annotated(n + 1, preds[0].ids.copy(), [dict(s) for s in preds[0].segments]))
    gts.append(Annotated(n + 2, np.zeros(shape, np.int64)))
    preds.append(Annotated(n + 2, np.zeros(shape, np.int64)))
    gts.append(_two_crowds(rng, n + 3, shape))
    preds.append(_crowd_prediction(gts[-1]))
    return gts, preds


def _two_crowds(rng: np.random.Generator, image_id: int, shape: tuple[int, int]) -> Annotated:
    """Road everywhere, two crowd boxes of cars and one car instance (strict mode consults only
    the crowd segment listed last; the pixels mode both)."""
    ids = np.full(shape, 101, dtype=np.int64)
    ids[2:20, 2:20] = 201  # crowd car, listed first
    ids[2:20, 30:50] = 202  # crowd car, listed last
    ids[25:40, 10:30] = 301  # a car
    meta = {101: (STUFF_IDS[0], 0), 201: (THING_IDS[1], 1), 202: (THING_IDS[1], 1)}
    meta[301] = (THING_IDS[1], 0)
    return finish(image_id, ids, meta)


def _crowd_prediction(gt: Annotated) -> Annotated:
    """Cars predicted on both crowd regions (one per region) plus the real car."""
    ids = np.full(gt.ids.shape, 11, dtype=np.int64)
    ids[3:19, 3:19] = 12  # on the first crowd box: exempt only in pixels mode
    ids[3:19, 31:49] = 13  # on the last crowd box: exempt in both modes
    ids[26:40, 10:31] = 14
    meta = {11: (STUFF_IDS[0], 0), 12: (THING_IDS[1], 0), 13: (THING_IDS[1], 0)}
    meta[14] = (THING_IDS[1], 0)
    return finish(gt.image_id, ids, meta)


def ids_to_rgb(ids: np.ndarray) -> np.ndarray:
    ids = ids.astype(np.uint32)
    return np.stack([ids & 255, (ids >> 8) & 255, (ids >> 16) & 255], axis=-1).astype(np.uint8)


def write_coco(
    root: Path, name: str, images: Sequence[Annotated], categories: list[dict[str, Any]] | None
) -> tuple[Path, Path]:
    """Write `root/name.json` and the PNGs under `root/name/`; returns (json, folder)."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    annotations = []
    for image in images:
        file_name = f"{image.image_id}.png"
        Image.fromarray(ids_to_rgb(image.ids)).save(folder / file_name)
        annotations.append(
            {"image_id": image.image_id, "file_name": file_name, "segments_info": image.segments}
        )
    data: dict[str, Any] = {
        "images": [{"id": i.image_id, "file_name": f"{i.image_id}.png"} for i in images],
        "annotations": annotations,
    }
    if categories is not None:
        data["categories"] = categories
    path = root / f"{name}.json"
    path.write_text(json.dumps(data))
    return path, folder


def perturb(gt: Annotated, rng: np.random.Generator, categories: list[dict[str, Any]]) -> Annotated:
    """A plausible prediction from a realistic gt: the whole map shifted by up to 2 pixels,
    then per segment a random edit (merge two instances of a class, split one in two,
    relabel, drop), crowd regions predicted as plain segments, void holes, a spurious box."""
    h, w = gt.ids.shape
    dy, dx = (int(v) for v in rng.integers(-2, 3, size=2))
    ids = np.roll(gt.ids, (dy, dx), axis=(0, 1)).copy()
    kind = {c["id"]: c["isthing"] for c in categories}
    same_kind = {t: [c["id"] for c in categories if c["isthing"] == t] for t in (0, 1)}
    meta = {s["id"]: (s["category_id"], 0) for s in gt.segments}
    used = set(meta)
    by_class: dict[int, list[int]] = {}
    for s in gt.segments:
        by_class.setdefault(s["category_id"], []).append(s["id"])
    for seg in gt.segments:
        sid, cat, u = seg["id"], seg["category_id"], rng.random()
        if u < 0.1 and len(by_class[cat]) > 1:  # merge with another instance of its class
            other = by_class[cat][0] if by_class[cat][0] != sid else by_class[cat][1]
            ids[ids == sid] = other
        elif u < 0.2:  # split at the median column
            ys, xs = np.nonzero(ids == sid)
            if xs.size > 1:
                new = _fresh_id(rng, used)
                right = xs > np.median(xs)
                ids[ys[right], xs[right]] = new
                meta[new] = (cat, 0)
        elif u < 0.3:  # relabel to another class of the same kind
            meta[sid] = (int(rng.choice(same_kind[kind[cat]])), 0)
        elif u < 0.35:  # dropped: void
            ids[ids == sid] = 0
    for _ in range(int(rng.integers(0, 3))):
        y0, x0, y1, x1 = _box(rng, h, w, 0.05, 0.25)
        ids[y0:y1, x0:x1] = 0
    y0, x0, y1, x1 = _box(rng, h, w, 0.05, 0.2)
    spurious = _fresh_id(rng, used)
    ids[y0:y1, x0:x1] = spurious
    meta[spurious] = (int(rng.choice([c["id"] for c in categories])), 0)
    return finish(gt.image_id, ids, meta)


def load_coco_annotated(json_path: Path, folder: Path) -> list[Annotated]:
    """Read a COCO-panoptic set back into `Annotated` images (with Pillow, as panopticapi)."""
    data = json.loads(json_path.read_text())
    out = []
    for ann in data["annotations"]:
        rgb = np.asarray(Image.open(folder / ann["file_name"]), dtype=np.int64)
        ids = rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]
        out.append(Annotated(ann["image_id"], ids, ann["segments_info"]))
    return out


def assert_results_close(a: PanopticResults, b: PanopticResults) -> None:
    """Equal counts, and float sums and scores equal up to the order of the additions."""
    for x, y in zip(a.per_class, b.per_class, strict=True):
        assert (x.tp, x.fp, x.fn, x.dagger_n, x.iou_histogram) == (
            y.tp,
            y.fp,
            y.fn,
            y.dagger_n,
            y.iou_histogram,
        )
        assert x.iou_sum == pytest.approx(y.iou_sum, abs=1e-12)
        assert x.dagger_iou_sum == pytest.approx(y.dagger_iou_sum, abs=1e-12)
    for key in ("pq", "sq", "rq", "pq_dagger"):
        assert getattr(a, key) == pytest.approx(getattr(b, key), abs=1e-12)
