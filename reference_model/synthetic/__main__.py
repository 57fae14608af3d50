"""Command line: `python -m reference_model.synthetic --output data/synthetic --train 100`."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .export import generate


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m reference_model.synthetic",
        description="Generate the synthetic street-scene dataset (Cityscapes + COCO panoptic).",
    )
    p.add_argument("--output", required=True, help="output folder")
    p.add_argument("--height", type=int, default=256, help="image height in pixels (default 256)")
    p.add_argument("--width", type=int, default=512, help="image width in pixels (default 512)")
    p.add_argument("--train", type=int, default=100, help="number of training images")
    p.add_argument("--val", type=int, default=30, help="number of validation images")
    p.add_argument("--test", type=int, default=0, help="number of test images")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    splits = {s: n for s, n in (("train", args.train), ("val", args.val), ("test", args.test)) if n}
    try:
        generate(
            args.output,
            splits,
            height=args.height,
            width=args.width,
            seed=args.seed,
            workers=args.workers,
            progress=not args.no_progress,
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"synthetic dataset written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
