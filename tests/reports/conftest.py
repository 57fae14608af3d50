"""Run directories in the format of docs/contracts.md §4, written by the tests themselves.

Two runs, `combined` and `independent`, on the session's synthetic validation split (19 images
of 64x128). Their predictions are the ground truth with known, seeded edits; their metrics.json
is what panoptic_metrics computes on those predictions (`evaluate_coco(...).to_json()`, mIoU
from `MiouAccumulator`, mask AP from `MaskAP`, joined as contracts §4 says), so every key the
report reads is checked against the library's real output. log.jsonl, curve.jsonl,
timings.json and cost.json hold seeded numbers (the trainer's and compute_cost's shapes); so
does the cost file of no run that the shared report also shows (our network in the paper's
configuration).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from panoptic_metrics import MaskAP, MiouAccumulator, cityscapes_groups, evaluate_coco
from PIL import Image

from reference_model.synthetic import STUFF, THINGS, coco_categories, ids_to_rgb
from reports import Report, ReportOptions, write_report

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
# A cost file of no run in compute_cost's shape at the paper's preset and size; its figures are
# what `python -m benchmark.compute_cost --preset paper-cityscapes --height 1024 --width 2048`
# wrote, its notes shortened. The tests derive what they assert from the file, not from these.
PAPER_CONFIG_COST = {
    "preset": "paper-cityscapes",
    "height": 1024,
    "width": 2048,
    "combined": {
        "params": 51_434_387,
        "dense_conv_macs": 513_885_470_720,
        "roi_macs_per_detection": 529_343_488,
        "fvcore_flops": 581_193_392_128,
    },
    "independent": {
        "params": 78_288_851,
        "dense_conv_macs": 803_493_773_312,
        "roi_macs_per_detection": 529_343_488,
        "fvcore_flops": 871_953_031_168,
    },
    "notes": [
        "combined params: the authors' modules for 19 classes give 51.434 M.",
        "independent dense MACs: 0.803 T, 7% below the paper's 0.864 T <not verifiable>.",
    ],
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
# Contiguous class indices of contracts §1: stuff first, then things (the train ids).
CONTIGUOUS = {c.label_id: k for k, c in enumerate(STUFF + THINGS)}
THING_IDS = [c.label_id for c in THINGS]
MAX_SHIFT = {"combined": 2, "independent": 3}  # pixels a thing instance may move


def _rgb_to_ids(path: Path) -> np.ndarray:
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def _shifted(mask: np.ndarray, dy: int, dx: int) -> np.ndarray:
    out = np.zeros_like(mask)
    h, w = mask.shape
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = mask[
        max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def predict(ids: np.ndarray, infos: list[dict[str, Any]], form: str, rng: np.random.Generator):
    """A prediction made from the ground truth with known edits. Both forms paint the stuff
    segments in place and move every thing instance by a seeded offset (so IoUs spread over
    (0, 1], small things fall under 0.5); `combined` also relabels the first stuff segment
    as `road` (or `sidewalk` when it is road), `independent` drops the largest thing instance.
    Crowd regions are left void. Returns (segment ids renumbered 1..n, segments_info)."""
    kept = [s for s in infos if not s["iscrowd"]]
    things = [s for s in kept if s["category_id"] in THING_IDS]
    if form == "independent" and things:
        kept.remove(max(things, key=lambda s: s["area"]))
    pred = np.zeros_like(ids)
    categories = {}
    stuff_first = sorted(kept, key=lambda s: s["category_id"] in THING_IDS)
    for k, seg in enumerate(stuff_first, start=1):
        mask = ids == seg["id"]
        category = seg["category_id"]
        if category in THING_IDS:
            dy, dx = (int(v) for v in rng.integers(-MAX_SHIFT[form], MAX_SHIFT[form] + 1, 2))
            mask = _shifted(mask, dy, dx)
        elif form == "combined" and seg is kept[0]:
            category = 8 if category == 7 else 7
        pred[mask] = k
        categories[k] = category
    present = set(np.unique(pred).tolist()) - {0}
    segments = [
        {"id": k, "category_id": c, "iscrowd": 0} for k, c in categories.items() if k in present
    ]
    return pred, segments


def write_predictions(run: Path, gt_root: Path, form: str, seed: int) -> None:
    """predictions/panoptic.json and its PNGs, from `predict` on every val image."""
    gt = json.loads((gt_root / "gtFine" / "cityscapes_panoptic_val.json").read_text())
    rng = np.random.default_rng(seed)
    annotations = []
    out = run / "predictions" / "panoptic"
    out.mkdir(parents=True, exist_ok=True)
    for ann in gt["annotations"]:
        ids = _rgb_to_ids(gt_root / "gtFine" / "cityscapes_panoptic_val" / ann["file_name"])
        pred, segments = predict(ids, ann["segments_info"], form, rng)
        name = ann["file_name"].replace("_gtFine_panoptic", "_pred")
        Image.fromarray(ids_to_rgb(pred)).save(out / name)
        annotations.append(
            {"image_id": ann["image_id"], "file_name": name, "segments_info": segments}
        )
    data = {"images": gt["images"], "annotations": annotations, "categories": coco_categories()}
    (run / "predictions" / "panoptic.json").write_text(json.dumps(data))


def _semantic(ids: np.ndarray, segments: list[dict[str, Any]]) -> np.ndarray:
    """Contiguous class index per pixel of a panoptic map (crowd included), 255 on void."""
    out = np.full(ids.shape, 255, dtype=np.int64)
    for seg in segments:
        out[ids == seg["id"]] = CONTIGUOUS[seg["category_id"]]
    return out


def semantic_and_instances(run: Path, gt_root: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """mIoU of the predictions' semantic maps and mask AP of their thing segments (score 1 −
    k/100 for the k-th), through panoptic_metrics; the detections go to instances.json."""
    gt_json = gt_root / "gtFine" / "cityscapes_panoptic_val.json"
    gt_folder = gt_root / "gtFine" / "cityscapes_panoptic_val"
    gt = {a["image_id"]: a for a in json.loads(gt_json.read_text())["annotations"]}
    pred = json.loads((run / "predictions" / "panoptic.json").read_text())["annotations"]
    order = [c.label_id for c in STUFF + THINGS]
    miou = MiouAccumulator(len(order), category_ids=order)
    mask_ap = MaskAP.from_coco_panoptic(gt_json, gt_folder, category_ids=THING_IDS)
    for ann in pred:
        ids = _rgb_to_ids(run / "predictions" / "panoptic" / ann["file_name"])
        truth = gt[ann["image_id"]]
        gt_ids = _rgb_to_ids(gt_folder / truth["file_name"])
        miou.update(_semantic(gt_ids, truth["segments_info"]), _semantic(ids, ann["segments_info"]))
        things = [s for s in ann["segments_info"] if s["category_id"] in THING_IDS]
        mask_ap.add_predictions(
            ann["image_id"],
            masks=np.array([ids == s["id"] for s in things]).reshape(len(things), *ids.shape),
            labels=np.array([THING_IDS.index(s["category_id"]) for s in things], dtype=np.int64),
            scores=1.0 - np.arange(len(things)) / 100.0,
        )
    mask_ap.write_predictions(run / "predictions" / "instances.json")
    return miou.compute().to_json(), mask_ap.compute().to_json()


def metrics_json(run: Path, gt_root: Path) -> dict[str, Any]:
    """metrics.json as contracts §4 defines it: panoptic_metrics' results JSON (§3) plus `miou`
    and `per_class_iou` of `MiouResult.to_json()`, `mask_ap` = `MaskAPResult.to_json()`,
    `split` and `dataset`; with `pq_at`, the Cityscapes categories' `groups` and `boundary`."""
    results = evaluate_coco(
        gt_root / "gtFine" / "cityscapes_panoptic_val.json",
        gt_root / "gtFine" / "cityscapes_panoptic_val",
        run / "predictions" / "panoptic.json",
        run / "predictions" / "panoptic",
        workers=1,
        progress=False,
        groups=cityscapes_groups(),  # as the evaluator on Cityscapes-labelled data
        boundary=True,  # as the evaluator of the synthetic (demo) runs
    )
    miou, mask_ap = semantic_and_instances(run, gt_root)
    return results.to_json() | {
        "miou": miou["miou"],
        "per_class_iou": miou["per_class_iou"],
        "mask_ap": mask_ap,
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


# PQ along the way (curve.jsonl) at the quarters of the 60 iterations: `combined` gains 0.5
# points at the end (at its plateau), `independent` 4 points (still improving).
CURVES = {
    "combined": [0.30, 0.42, 0.47, 0.475],
    "independent": [0.20, 0.31, 0.39, 0.43],
}


def write_curve(path: Path, form: str) -> None:
    """curve.jsonl as the trainer writes it (benchmark.experiment.curve_point's keys)."""
    lines = []
    for k, pq in enumerate(CURVES[form], start=1):
        entry = {"iteration": 15 * k, "images": 16, "pq": pq, "pq_dagger": pq - 0.01}
        entry |= {"pq_th": pq - 0.1, "pq_st": pq + 0.05, "miou": pq + 0.1}
        lines.append(json.dumps(entry, sort_keys=True))
    path.write_text("\n".join(lines) + "\n")


def write_run(root: Path, form: str, gt_root: Path, seed: int) -> Path:
    """One complete run directory named after its form."""
    run = root / form
    run.mkdir(parents=True)
    write_predictions(run, gt_root, form, seed)
    files = {
        "config.json": {
            "model": {"form": form, "preset": "tiny-synthetic"},
            "data": {"dataset": "synthetic", "root": str(gt_root), "split": "val"},
            "training": {"iterations": 60, "lr": 0.01},
        },
        "environment.json": ENVIRONMENTS[form],
        "metrics.json": metrics_json(run, gt_root),
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
    write_curve(run / "curve.jsonl", form)
    return run


@pytest.fixture(scope="session")
def complete_runs(synthetic_root: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """`combined` and `independent`, complete; shared read-only by the tests."""
    root = tmp_path_factory.mktemp("runs")
    return [write_run(root, form, synthetic_root, seed) for seed, form in enumerate(FORMS)]


@pytest.fixture(scope="session")
def paper_cost_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`PAPER_CONFIG_COST` as a file beside no run; read-only for the tests."""
    path = tmp_path_factory.mktemp("cost") / "cost-paper-cityscapes-1024x2048.json"
    path.write_text(json.dumps(PAPER_CONFIG_COST, indent=1))
    return path


@pytest.fixture(scope="session")
def built_report(
    complete_runs: list[Path], paper_cost_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Report:
    """The report of the complete runs with 3 panels and the paper-configuration cost file,
    built once; read-only for the tests."""
    options = ReportOptions(panels=3, cost_files=(paper_cost_file,))
    return write_report(complete_runs, tmp_path_factory.mktemp("report"), options)


@pytest.fixture
def copy_runs(complete_runs: list[Path], tmp_path: Path) -> Callable[[], list[Path]]:
    """A fresh, writable copy of the complete runs, for tests that damage them."""

    def copy() -> list[Path]:
        return [Path(shutil.copytree(r, tmp_path / "runs" / r.name)) for r in complete_runs]

    return copy
