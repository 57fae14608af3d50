"""The `panoptic-metrics` command line: `evaluate` a prediction set, `compare` two results.

    panoptic-metrics evaluate --gt-json F --gt-folder D --pred-json F --pred-folder D \
        [--workers N] [--output results.json] [--per-class-csv F] [--mode strict|pixels] \
        [--iou-threshold T] [--groups groups.json] [--boundary [--dilation-ratio R]] [--errors]
    panoptic-metrics compare A.json B.json [--samples N] [--seed S] [--confidence C] [--errors]

Exit status: 0 done; 2 bad input (one line naming the file and the problem); 3 an unexpected
error, a bug (one line, the traceback with `--debug`). Every output is rendered before the
first is written, and each is written atomically: a failure leaves earlier files as they were.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path

from . import __version__
from .bootstrap import paired_bootstrap
from .boundary import DEFAULT_DILATION_RATIO
from .error_analysis import compare_errors, comparison_error_table, error_table
from .errors import PanopticInputError
from .evaluate import MatchSettings, coco_pairs, evaluate_with
from .groups import load_groups
from .io import json_text_chunks, read_json, write_chunks_atomic, write_text_atomic
from .matching import MODES
from .png import inflate
from .results import PanopticResults
from .tables import (
    boundary_summary_table,
    class_table,
    comparison_table,
    group_table,
    per_class_csv,
    summary_table,
    threshold_table,
)
from .thresholds import IOU_THRESHOLDS


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _iou_threshold(text: str) -> float:
    value = float(text)
    if not 0.5 <= value < 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be in [0.5, 1), got {text}")
    return value


def _dilation_ratio(text: str) -> float:
    value = float(text)
    if not 0.0 < value < float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def _decoder_line() -> str:
    """Which PNG decoding path runs here: a slow fallback should be visible, not guessed."""
    line = f"PNG decoding: numba unfilter, inflate by {inflate.describe()}"
    if "zlib-ng" not in inflate.available():
        line += " (zlib-ng is not installed: decoding is several times slower)"
    return line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="panoptic-metrics",
        description="Panoptic quality (PQ, SQ, RQ, PQ†) evaluation.",
        formatter_class=argparse.RawDescriptionHelpFormatter,  # keeps the version's two lines
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}\n{_decoder_line()}"
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", help="show the traceback of an unexpected error"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate", parents=[common], help="evaluate COCO-panoptic predictions")
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
    ev.add_argument(
        "--iou-threshold",
        type=_iou_threshold,
        metavar="T",
        help="also print PQ, SQ, RQ with matches at IoU > T (0.5 <= T < 1); the JSON's pq_at "
        "holds 0.5, 0.55, ..., 0.95 and T",
    )
    ev.add_argument(
        "--groups",
        type=Path,
        metavar="FILE",
        help="JSON {group: [category ids]}: also print and write PQ per class group",
    )
    ev.add_argument(
        "--boundary",
        action="store_true",
        help="also compute Boundary PQ (PQ matched on min(mask IoU, boundary IoU)): printed, "
        "and written as the JSON's boundary",
    )
    ev.add_argument(
        "--dilation-ratio",
        type=_dilation_ratio,
        metavar="R",
        help="Boundary PQ's band width as a fraction of the image diagonal (default "
        f"{DEFAULT_DILATION_RATIO}); needs --boundary",
    )
    ev.add_argument(
        "--errors",
        action="store_true",
        help="also print the error decomposition (the JSON always has it): the cause of "
        "every FN and FP and ΔPQ of fixing each",
    )
    cmp = sub.add_parser(
        "compare", parents=[common], help="paired bootstrap difference of two results files"
    )
    cmp.add_argument("a", type=Path, help="results JSON of prediction set A")
    cmp.add_argument("b", type=Path, help="results JSON of prediction set B (same images)")
    cmp.add_argument("--samples", type=_positive, default=1000, help="bootstrap resamples")
    cmp.add_argument("--seed", type=int, default=0, help="random seed")
    cmp.add_argument("--confidence", type=float, default=0.95, help="interval level")
    cmp.add_argument(
        "--errors",
        action="store_true",
        help="also compare the error decompositions: ΔPQ per cause, A − B with its interval",
    )
    return parser


def _evaluate(args: argparse.Namespace) -> int:
    pairs, categories = coco_pairs(args.gt_json, args.gt_folder, args.pred_json, args.pred_folder)
    # checked before the evaluation: a bad groups file fails at once
    groups = None if args.groups is None else load_groups(args.groups, categories)
    thresholds = IOU_THRESHOLDS + (() if args.iou_threshold is None else (args.iou_threshold,))
    ratio = args.dilation_ratio or DEFAULT_DILATION_RATIO
    results = evaluate_with(
        pairs,
        MatchSettings(
            categories=categories,
            mode=args.mode,
            dilation_ratio=ratio if args.boundary else None,
        ),
        workers=args.workers,
        progress=not args.no_progress,
        iou_thresholds=thresholds,
        groups=groups,
    )
    # everything rendered first (the results JSON as it is written, its per-image rows streamed):
    # an error while rendering leaves no file half-updated
    outputs: list[tuple[Path, str | Iterator[str]]] = []
    if args.output:
        outputs.append((args.output, json_text_chunks(results.json_parts())))
    if args.per_class_csv:
        outputs.append((args.per_class_csv, per_class_csv(results)))
    tables = f"{summary_table(results)}\n\n{class_table(results)}"
    if args.iou_threshold is not None:
        tables += f"\n\n{threshold_table(results, args.iou_threshold)}"
    if groups is not None:
        tables += f"\n\n{group_table(results)}"
    if results.boundary is not None:
        tables += f"\n\n{boundary_summary_table(results)}"
    if args.errors:
        tables += f"\n\n{error_table(results)}"
    tables += f"\n\n{_decoder_line()}"
    print(tables)
    if outputs:
        print()
    for path, text in outputs:
        _write(text, path)
        print(f"wrote {path}")
    return 0


def _write(text: str | Iterator[str], path: Path) -> None:
    try:
        if isinstance(text, str):
            write_text_atomic(text, path)
        else:
            write_chunks_atomic((t.encode("utf-8") for t in text), path)
    except OSError as exc:
        raise PanopticInputError(str(path), f"cannot write the file ({exc})") from None


def _compare(args: argparse.Namespace) -> int:
    a = PanopticResults.from_json(read_json(args.a), source=str(args.a))
    b = PanopticResults.from_json(read_json(args.b), source=str(args.b))
    diff = paired_bootstrap(
        a, b, n_samples=args.samples, seed=args.seed, confidence=args.confidence
    )
    print(comparison_table(str(args.a), a, str(args.b), b, diff))
    if args.errors:
        errors = compare_errors(
            a, b, n_samples=args.samples, seed=args.seed, confidence=args.confidence
        )
        print(f"\n{comparison_error_table(str(args.a), str(args.b), errors)}")
    return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad input, 3 for a bug)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "dilation_ratio", None) is not None and not args.boundary:
        parser.error("--dilation-ratio needs --boundary")  # exits with status 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _evaluate(args) if args.command == "evaluate" else _compare(args)
    except PanopticInputError as exc:
        print(f"panoptic-metrics: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except Exception as exc:  # any other is a bug: one line, a hint, no output written
        if args.debug:
            traceback.print_exc()
        print(
            f"panoptic-metrics: internal error: {type(exc).__name__}: {_one_line(str(exc))} "
            "(a bug: please report it with the command and its input; --debug shows the "
            "traceback)",
            file=sys.stderr,
        )
        return 3
