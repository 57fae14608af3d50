"""Run directories in the format of docs/contracts.md §4, written by the tests themselves.

Two runs, `combined` and `independent`, on the session's synthetic validation split (19 images
of 64x128). Their predictions are the ground truth with known edits, their metrics.json,
log.jsonl, timings.json and cost.json hold seeded numbers; the tests assert what the report
shows against these files (`RUNS` below records what was written).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from reference_model.synthetic import CLASSES, coco_categories, ids_to_rgb

FORMS = ("combined", "independent")
LOSS_KEYS = ("rpn_objectness", "rpn_box", "roi_class", "roi_box", "roi_mask", "semantic")
# cost.json figures written for every run (benchmark.compute_cost's keys, made-up magnitudes).
COST = {
    "preset": "tiny-synthetic",
    "height": 192,
    "width": 384,
    "combined": {
        "params": 1_234_567,
        "dense_conv_macs": 2.5e9,
        "roi_macs_per_detection": 3.0e7,
        "fvcore_flops": 2.9e9,
    },
    "independent": {
        "params": 1_851_850,
        "dense_conv_macs": 4.0e9,
        "roi_macs_per_detection": 3.0e7,
        "fvcore_flops": 4.4e9,
    },
}
# Both spellings of the commit that environment.json may use (nested and flat).
ENVIRONMENTS: dict[str, dict[str, Any]] = {
    "combined": {
        "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False},
        "command": ["python", "-m", "benchmark.demo"],
        "packages": {"torch": "2.14.1", "numpy": "2.0"},
        "hardware": {"cpu": "Test CPU @ 2 cores", "gpus": []},
        "start_time": "2026-11-24T21:00:00Z",
    },
    "independent": {
        "git_commit": "fedcba9876543210fedcba9876543210fedcba98",
        "git_dirty": True,
        "command": ["python", "-m", "benchmark.demo"],
        "versions": {"torch": "2.14.1"},
        "hardware": {
            "cpu": "Test CPU @ 2 cores",
            "cpu_count": 4,
            "usable_cpus": 2,
            "gpus": [{"name": "Test GPU", "memory_bytes": 2**34}] * 2,
        },
        "start_time": "2026-11-24T21:30:00+00:00",
    },
}
WORST = {"combined": 4, "independent": 9}  # index of the image given the lowest PQ


def _rgb_to_ids(path: Path) -> np.ndarray:
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def write_predictions(run: Path, gt_root: Path, form: str) -> None:
    """The ground truth of the val split with edits: `combined` relabels the first stuff segment
    of every image as `road` (or `sidewalk` when it is road); `independent` drops the largest
    thing instance. Segment ids are renumbered 1..n, as a model would."""
    gt = json.loads((gt_root / "gtFine" / "cityscapes_panoptic_val.json").read_text())
    annotations = []
    out = run / "predictions" / "panoptic"
    out.mkdir(parents=True, exist_ok=True)
    for ann in gt["annotations"]:
        ids = _rgb_to_ids(gt_root / "gtFine" / "cityscapes_panoptic_val" / ann["file_name"])
        pred = np.zeros_like(ids)
        segments = []
        infos = [s for s in ann["segments_info"] if not s["iscrowd"]]
        things = [s for s in infos if s["category_id"] >= 24]
        dropped = max(things, key=lambda s: s["area"])["id"] if things else None
        for k, seg in enumerate(infos, start=1):
            if form == "independent" and seg["id"] == dropped:
                continue
            category = seg["category_id"]
            if form == "combined" and seg is infos[0]:
                category = 8 if category == 7 else 7
            pred[ids == seg["id"]] = k
            segments.append({"id": k, "category_id": category, "iscrowd": 0})
        name = ann["file_name"].replace("_gtFine_panoptic", "_pred")
        Image.fromarray(ids_to_rgb(pred)).save(out / name)
        annotations.append(
            {"image_id": ann["image_id"], "file_name": name, "segments_info": segments}
        )
    data = {"images": gt["images"], "annotations": annotations, "categories": coco_categories()}
    (run / "predictions" / "panoptic.json").write_text(json.dumps(data))


def metrics_json(form: str, image_ids: list[str], seed: int) -> dict[str, Any]:
    """Seeded fractions in the shape of panoptic-metrics' results JSON plus the run keys."""
    rng = np.random.default_rng(seed)
    per_class = {}
    for c in CLASSES:
        sq, rq = rng.uniform(0.6, 0.95), rng.uniform(0.3, 1.0)
        tp, fp, fn = (int(x) for x in rng.integers(1, 40, size=3))
        per_class[str(c.label_id)] = {
            "name": c.name,
            "isthing": c.isthing,
            "pq": sq * rq,
            "sq": sq,
            "rq": rq,
            "pq_dagger": sq * rq + (rng.uniform(-0.05, 0.15) if not c.isthing else 0.0),
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "iou_sum": sq * tp,
            "iou_histogram": [int(x) for x in rng.integers(0, 12, size=10)],
        }
    per_image = [
        {"image_id": i, "pq": 0.05 if k == WORST[form] else 0.4 + 0.5 * k / len(image_ids)}
        for k, i in enumerate(image_ids)
    ]
    return {
        "pq": 0.551 if form == "combined" else 0.543,
        "sq": 0.781,
        "rq": 0.702,
        "pq_dagger": 0.566 if form == "combined" else 0.561,
        "things": {"pq": 0.482, "sq": 0.77, "rq": 0.62, "pq_dagger": 0.482, "n": 8},
        "stuff": {"pq": 0.601, "sq": 0.79, "rq": 0.76, "pq_dagger": 0.627, "n": 11},
        "per_class": per_class,
        "per_image": per_image,
        "mode": "strict",
        "n_images": len(image_ids),
        "miou": 0.702 if form == "combined" else 0.69,
        "per_class_iou": {k: v["sq"] for k, v in per_class.items()},
        "mask_ap": 0.301 if form == "combined" else None,
        "split": "val",
        "dataset": "synthetic",
    }


def write_log(path: Path, form: str, iterations: int = 60) -> None:
    """Warm-up from lr/3 over 10 iterations, then 0.01; losses decaying from 2."""
    lines = []
    for it in range(1, iterations + 1):
        lr = 0.01 * (1 / 3 + (2 / 3) * min(it, 10) / 10)
        losses = {k: 2.0 * (j + 1) / 6 * np.exp(-it / 30) for j, k in enumerate(LOSS_KEYS)}
        if form == "independent":
            losses = {k: v * 1.1 for k, v in losses.items()}
        record = {"iteration": it, "lr": lr, "loss": sum(losses.values()), **losses}
        lines.append(json.dumps(record | {"time": 0.5 * it, "epoch": it // 20}))
    path.write_text("\n".join(lines) + "\n")


def write_run(root: Path, form: str, gt_root: Path, seed: int) -> Path:
    """One complete run directory named after its form."""
    run = root / form
    run.mkdir(parents=True)
    write_predictions(run, gt_root, form)
    ids = [
        a["image_id"]
        for a in json.loads((run / "predictions" / "panoptic.json").read_text())["annotations"]
    ]
    files = {
        "config.json": {
            "model": {"form": form, "preset": "tiny-synthetic"},
            "data": {"dataset": "synthetic", "root": str(gt_root), "split": "val"},
            "training": {"iterations": 60, "lr": 0.01},
        },
        "environment.json": ENVIRONMENTS[form],
        "metrics.json": metrics_json(form, ids, seed),
        "timings.json": {
            "train_seconds": 90.0 + seed,
            "train_seconds_per_iteration": 1.5 + seed / 10,
            "inference_seconds_per_image": 0.25 + seed / 100,
            "peak_memory_bytes": (300 + seed) * 2**20,
            "device": "cpu",
        },
        "cost.json": COST,
    }
    for name, data in files.items():
        (run / name).write_text(json.dumps(data, indent=1))
    write_log(run / "log.jsonl", form)
    return run


@pytest.fixture(scope="session")
def complete_runs(synthetic_root: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """`combined` and `independent`, complete; shared read-only by the tests."""
    root = tmp_path_factory.mktemp("runs")
    return [write_run(root, form, synthetic_root, seed) for seed, form in enumerate(FORMS)]


@pytest.fixture
def copy_runs(complete_runs: list[Path], tmp_path: Path) -> Callable[[], list[Path]]:
    """A fresh, writable copy of the complete runs, for tests that damage them."""

    def copy() -> list[Path]:
        return [Path(shutil.copytree(r, tmp_path / "runs" / r.name)) for r in complete_runs]

    return copy
