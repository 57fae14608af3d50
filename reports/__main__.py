"""Command line: `python -m reports RUNS... --output DIR` writes DIR/report.html and its files.

`--cost FILE` (repeatable) adds a cost file that is no run's, e.g. our network in the paper's
configuration: `python -m benchmark.compute_cost --preset paper-cityscapes --height 1024
--width 2048 --output FILE`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .build import TITLE, ReportOptions, write_report
from .intervals import BootstrapSettings


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m reports",
        description="Build the HTML report of run directories (tables, plots, panels).",
    )
    p.add_argument("runs", nargs="+", type=Path, help="run directories (runs/<name>/)")
    p.add_argument("--output", type=Path, help="report folder (default: the runs' parent/report)")
    p.add_argument("--title", default=TITLE, help="page title")
    p.add_argument("--panels", type=int, default=3, help="number of qualitative panels (default 3)")
    p.add_argument("--gt-json", type=Path, help="COCO-panoptic ground-truth JSON for the panels")
    p.add_argument("--gt-folder", type=Path, help="its PNG folder (default: the JSON's name)")
    p.add_argument("--images", type=Path, help="folder of the images (flat or per city)")
    p.add_argument(
        "--bootstrap-samples",
        type=int,
        default=BootstrapSettings.n_samples,
        help="resamples of the PQ/PQ† confidence intervals (default %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the resampling (default 0)")
    p.add_argument(
        "--cost",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a cost file of benchmark.compute_cost that is no run's (repeatable), e.g. the "
        "paper-cityscapes preset at 1024x2048: shown as its own table in the cost section",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if args.panels < 0 or args.bootstrap_samples < 1:
        print("error: --panels must be >= 0 and --bootstrap-samples >= 1", file=sys.stderr)
        return 2
    options = ReportOptions(
        title=args.title,
        panels=args.panels,
        gt_json=args.gt_json,
        gt_folder=args.gt_folder,
        images=args.images,
        bootstrap=BootstrapSettings(n_samples=args.bootstrap_samples, seed=args.seed),
        cost_files=tuple(args.cost),
    )
    report = write_report(args.runs, args.output, options)
    if report.notices:  # each was logged as a warning above
        print(f"{len(report.notices)} notice(s): parts of the report are missing, see its top")
    print(f"report: {report.html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
