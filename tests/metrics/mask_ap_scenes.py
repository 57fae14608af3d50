"""Seeded scenes for the mask AP tests: ground truth with crowd, imperfect detections, and
pycocotools run directly on a hand-built COCO JSON as the reference."""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from panoptic_metrics.mask_ap import MaskAP, MaskAPResult
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from reference_model.synthetic import THINGS

CATEGORY_IDS = (24, 26, 33)  # person, car, bicycle: label k is category CATEGORY_IDS[k]
STATS = ("ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large")
STATS += ("ar_1", "ar_10", "ar_max", "ar_small", "ar_medium", "ar_large")


# ---- a small seeded scene: ground truth and imperfect detections ---------------------------


def blob(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """An ellipse or a rectangle, sizes from small to large (COCO's 32^2 and 96^2 ranges)."""
    yy, xx = np.mgrid[:h, :w]
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    ry, rx = rng.uniform(3, h / 2.5), rng.uniform(3, w / 2.5)
    if rng.random() < 0.5:
        return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    return (abs(yy - cy) <= ry) & (abs(xx - cx) <= rx)


def detections_of(rng: np.random.Generator, gt: dict[str, Any]) -> dict[str, Any]:
    """Shifted copies of most gt masks (some with the wrong label), plus false positives."""
    masks, labels = [], []
    for mask, label in zip(gt["masks"], gt["labels"], strict=True):
        if rng.random() < 0.2:
            continue  # missed
        dy, dx = rng.integers(-4, 5, size=2)
        masks.append(np.roll(mask, (int(dy), int(dx)), axis=(0, 1)))
        labels.append(int(label) if rng.random() < 0.85 else int(rng.integers(0, 3)))
    for _ in range(int(rng.integers(0, 4))):
        masks.append(blob(rng, *gt["masks"].shape[1:]))
        labels.append(int(rng.integers(0, 3)))
    shape = (0, *gt["masks"].shape[1:])
    return {
        "masks": np.stack(masks) if masks else np.zeros(shape, dtype=bool),
        "labels": np.array(labels, dtype=np.int64),
        "scores": rng.random(len(labels)),
    }


def scene(seed: int, n_images: int = 6, h: int = 120, w: int = 200) -> list[dict[str, Any]]:
    """Images with ground truth (including crowd) and detections; image 1 has no detection,
    image 2 no ground-truth instance, and category 33 (label 2) has no ground truth at all."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n_images):
        n = 0 if i == 2 else int(rng.integers(2, 7))
        masks = np.stack([blob(rng, h, w) for _ in range(n)]) if n else np.zeros((0, h, w), bool)
        gt = {
            "masks": masks,
            "labels": rng.integers(0, 2, size=n),
            "iscrowd": rng.random(n) < 0.15,
        }
        pred = detections_of(rng, gt)
        if i == 1:
            pred = {k: v[:0] for k, v in pred.items()}
        images.append({"image_id": f"img{i:02d}", "gt": gt, "pred": pred})
    return images


def ours(images: list[dict[str, Any]], **kwargs: Any) -> MaskAP:
    acc = MaskAP(CATEGORY_IDS, **kwargs)
    for image in images:
        acc.update(image["image_id"], image["pred"], image["gt"])
    return acc


# ---- pycocotools run directly on hand-built COCO JSON ---------------------------------------


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def pycocotools_reference(
    images: list[dict[str, Any]], tmp_path: Path, results: str | list[dict[str, Any]] | None = None
) -> tuple[np.ndarray, list[float]]:
    """COCOeval on a GT JSON file written here; returns its stats and per-category AP."""
    gt_json: dict[str, Any] = {"images": [], "annotations": [], "categories": []}
    gt_json["categories"] = [{"id": c, "name": str(c)} for c in CATEGORY_IDS]
    dets = []
    for number, image in enumerate(images, start=1):
        h, w = image["gt"]["masks"].shape[1:]
        gt_json["images"].append({"id": number, "height": h, "width": w, "file_name": "x.png"})
        gt = image["gt"]
        for mask, label, crowd in zip(gt["masks"], gt["labels"], gt["iscrowd"], strict=True):
            rle = encode_rle(mask)
            gt_json["annotations"].append(
                {
                    "id": len(gt_json["annotations"]) + 1,
                    "image_id": number,
                    "category_id": CATEGORY_IDS[label],
                    "segmentation": rle,
                    "area": int(mask.sum()),
                    "bbox": list(mask_utils.toBbox(rle)),
                    "iscrowd": int(crowd),
                }
            )
        pred = image["pred"]
        for mask, label, score in zip(pred["masks"], pred["labels"], pred["scores"], strict=True):
            dets.append(
                {
                    "image_id": number,
                    "category_id": CATEGORY_IDS[label],
                    "segmentation": encode_rle(mask),
                    "score": float(score),
                }
            )
    (tmp_path / "gt.json").write_text(json.dumps(gt_json))
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(tmp_path / "gt.json"))
        coco_dt = coco_gt.loadRes(dets if results is None else results)
        evaluator = COCOeval(coco_gt, coco_dt, iouType="segm")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    precision = evaluator.eval["precision"]
    per_class = []
    for k in range(len(CATEGORY_IDS)):
        p = precision[:, :, k, 0, -1]
        per_class.append(float(p[p > -1].mean()) if (p > -1).any() else math.nan)
    return evaluator.stats, per_class


def assert_matches(result: MaskAPResult, stats: np.ndarray, per_class: list[float]) -> None:
    ours = [getattr(result, key) for key in STATS]
    expected = [math.nan if s < 0 else s for s in stats]
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.per_class_ap, per_class, rtol=0, atol=1e-12)


def instances_from_instance_ids(path: Path) -> dict[str, Any]:
    """Thing instances from a Cityscapes *_gtFine_instanceIds.png, read independently of the
    panoptic files: ids >= 1000 are instances of class id // 1000, thing ids < 1000 crowds."""
    ids = np.asarray(Image.open(path)).astype(np.int64)
    thing_ids = [c.label_id for c in THINGS]
    masks, labels, crowd = [], [], []
    for value in np.unique(ids).tolist():
        label_id = value // 1000 if value >= 1000 else value
        if label_id in thing_ids:
            masks.append(ids == value)
            labels.append(thing_ids.index(label_id))
            crowd.append(value < 1000)
    return {
        "masks": np.stack(masks) if masks else np.zeros((0, *ids.shape), dtype=bool),
        "labels": np.array(labels, dtype=np.int64),
        "iscrowd": np.array(crowd, dtype=bool),
    }
