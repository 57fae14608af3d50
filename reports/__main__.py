"""Command line: `python -m reports RUNS... --output DIR` writes DIR/report.html and its files."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .build import TITLE, ReportOptions, build_report


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
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if args.panels < 0:
        print("error: --panels must be >= 0", file=sys.stderr)
        return 2
    output = args.output or args.runs[0].resolve().parent / "report"
    options = ReportOptions(
        output=output,
        title=args.title,
        panels=args.panels,
        gt_json=args.gt_json,
        gt_folder=args.gt_folder,
        images=args.images,
    )
    report = build_report(args.runs, options)
    for notice in report.notices:
        print(f"notice: {notice}")
    print(f"report: {report.html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
