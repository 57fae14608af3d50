"""The `panoptic-metrics` command line: `evaluate` a prediction set, `compare` two results.

    panoptic-metrics evaluate --gt-json F --gt-folder D --pred-json F --pred-folder D \
        [--workers N] [--output results.json] [--per-class-csv F] [--mode strict|pixels]
    panoptic-metrics compare A.json B.json [--samples N] [--seed S] [--confidence C]
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .bootstrap import paired_bootstrap
from .errors import PanopticInputError
from .evaluate import evaluate_coco
from .io import read_json, write_text_atomic
from .matching import MODES
from .results import PanopticResults
from .tables import class_table, comparison_table, per_class_csv, summary_table


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="panoptic-metrics", description="Panoptic quality (PQ, SQ, RQ, PQ†) evaluation."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate", help="evaluate COCO-panoptic predictions")
    ev.add_argument("--gt-json", type=Path, required=True, help="ground-truth JSON")
    ev.add_argument("--gt-folder", type=Path, required=True, help="ground-truth PNG folder")
    ev.add_argument("--pred-json", type=Path, required=True, help="prediction JSON")
    ev.add_argument("--pred-folder", type=Path, required=True, help="prediction PNG folder")
    ev.add_argument(
        "--workers", type=_positive, default=None, help="worker processes (default: all cores)"
    )
    ev.add_argument("--output", type=Path, help="write the results JSON here")
    ev.add_argument("--per-class-csv", type=Path, help="write the per-class table as CSV here")
    ev.add_argument("--mode", choices=MODES, default="strict", help="default: strict (panopticapi)")
    ev.add_argument("--no-progress", action="store_true", help="no progress bar")
    cmp = sub.add_parser("compare", help="paired bootstrap difference of two results files")
    cmp.add_argument("a", type=Path, help="results JSON of prediction set A")
    cmp.add_argument("b", type=Path, help="results JSON of prediction set B (same images)")
    cmp.add_argument("--samples", type=_positive, default=1000, help="bootstrap resamples")
    cmp.add_argument("--seed", type=int, default=0, help="random seed")
    cmp.add_argument("--confidence", type=float, default=0.95, help="interval level")
    return parser


def _evaluate(args: argparse.Namespace) -> int:
    results = evaluate_coco(
        args.gt_json,
        args.gt_folder,
        args.pred_json,
        args.pred_folder,
        mode=args.mode,
        workers=args.workers,
        progress=not args.no_progress,
    )
    print(summary_table(results))
    print()
    print(class_table(results))
    if args.output:
        results.write_json(args.output)
        print(f"\nwrote {args.output}")
    if args.per_class_csv:
        write_text_atomic(per_class_csv(results), args.per_class_csv)
        print(f"wrote {args.per_class_csv}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    a = PanopticResults.from_json(read_json(args.a), source=str(args.a))
    b = PanopticResults.from_json(read_json(args.b), source=str(args.b))
    diff = paired_bootstrap(
        a, b, n_samples=args.samples, seed=args.seed, confidence=args.confidence
    )
    print(comparison_table(str(args.a), a, str(args.b), b, diff))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad input)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _evaluate(args) if args.command == "evaluate" else _compare(args)
    except PanopticInputError as exc:
        print(f"panoptic-metrics: error: {exc}", file=sys.stderr)
        return 2
