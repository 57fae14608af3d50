"""The main job (`nox -s demo`): the paper's experiment in miniature, on the CPU.

Stages, each skipped when its output is already there and up to date:
1. data: the embedded synthetic street-scene dataset (train and val splits);
2. summary: per-class pixel and segment counts of the data, as the sanity check of what
   the models will be trained and evaluated on.
Training, evaluation and the report join this pipeline as they land.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from reference_model.synthetic import CLASSES, generate
from reference_model.synthetic.export import write_json_atomic

log = logging.getLogger("demo")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmark.demo", description=__doc__.split("\n")[0])
    p.add_argument("--data", default="data/synthetic", help="synthetic dataset folder")
    p.add_argument("--output", default="runs/demo", help="folder for the demo's results")
    p.add_argument("--train-images", type=int, default=200)
    p.add_argument("--val-images", type=int, default=50)
    p.add_argument("--height", type=int, default=192)
    p.add_argument("--width", type=int, default=384)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    return p


def stage_data(args: argparse.Namespace) -> Path:
    """Generate the dataset unless the same one (same manifest) is already there."""
    root = Path(args.data)
    wanted = {
        "seed": args.seed,
        "height": args.height,
        "width": args.width,
        "splits": {"train": args.train_images, "val": args.val_images},
    }
    manifest = root / "synthetic.json"
    if manifest.exists():
        have = json.loads(manifest.read_text())
        if all(have.get(k) == v for k, v in wanted.items()):
            log.info("data: %s is up to date", root)
            return root
    generate(
        root,
        wanted["splits"],
        height=args.height,
        width=args.width,
        seed=args.seed,
        workers=args.workers,
    )
    return root


def stage_summary(root: Path, output: Path) -> dict[str, Any]:
    """Per split and class: pixels and segments (crowd counted apart), from the panoptic GT."""
    summary: dict[str, Any] = {}
    for split in ("train", "val"):
        data = json.loads((root / "gtFine" / f"cityscapes_panoptic_{split}.json").read_text())
        per_class = {c.name: {"pixels": 0, "segments": 0, "crowd": 0} for c in CLASSES}
        names = {c.label_id: c.name for c in CLASSES}
        void = 0
        for ann in data["annotations"]:
            png = root / "gtFine" / f"cityscapes_panoptic_{split}" / ann["file_name"]
            rgb = np.asarray(Image.open(png), dtype=np.uint32)
            void += int(np.count_nonzero((rgb == 0).all(axis=-1)))
            for seg in ann["segments_info"]:
                entry = per_class[names[seg["category_id"]]]
                entry["pixels"] += seg["area"]
                entry["crowd" if seg["iscrowd"] else "segments"] += 1
        summary[split] = {"images": len(data["images"]), "void_pixels": void, "classes": per_class}
    write_json_atomic(summary, output / "dataset_summary.json")
    return summary


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    root = stage_data(args)
    summary = stage_summary(root, output)
    for split, info in summary.items():
        missing = [n for n, c in info["classes"].items() if c["pixels"] == 0]
        log.info("%s: %d images, classes missing: %s", split, info["images"], missing or "none")
    log.info("demo finished in %.1f s; results in %s", time.perf_counter() - start, output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
