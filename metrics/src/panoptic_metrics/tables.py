"""Readable text tables of results (percentages, NaN as '-'), and the per-class CSV."""

from __future__ import annotations

import csv
import io
import math

from .bootstrap import BootstrapResult, Interval
from .results import PanopticResults, Quality


def _pct(x: float, width: int = 6, signed: bool = False) -> str:
    if math.isnan(x):
        return "-".rjust(width)
    return f"{100 * x:{'+' if signed else ''}{width}.2f}"


def summary_table(results: PanopticResults) -> str:
    """All / Things / Stuff rows of PQ, SQ, RQ, PQ† (in %) and the number of classes."""
    lines = [
        f"{'':10s}|{'PQ':>8s}{'SQ':>8s}{'RQ':>8s}{'PQ†':>8s}{'N':>5s}",
        "-" * 10 + "+" + "-" * 37,
    ]
    rows: tuple[tuple[str, Quality], ...] = (
        ("All", results.overall),
        ("Things", results.things),
        ("Stuff", results.stuff),
    )
    for name, q in rows:
        values = "".join("  " + _pct(v) for v in (q.pq, q.sq, q.rq, q.pq_dagger))
        lines.append(f"{name:10s}|{values}{q.n:5d}")
    lines.append(f"mode: {results.mode}, images: {results.n_images}")
    return "\n".join(lines)


def threshold_table(results: PanopticResults, threshold: float) -> str:
    """All / Things / Stuff rows of PQ, SQ, RQ (in %) with matches at IoU > `threshold`."""
    at = results.at(threshold)
    lines = [
        f"{'IoU > ' + f'{threshold:g}':10s}|{'PQ':>8s}{'SQ':>8s}{'RQ':>8s}{'N':>5s}",
        "-" * 10 + "+" + "-" * 29,
    ]
    for name, q in (("All", at.overall), ("Things", at.things), ("Stuff", at.stuff)):
        values = "".join("  " + _pct(v) for v in (q.pq, q.sq, q.rq))
        lines.append(f"{name:10s}|{values}{q.n:5d}")
    return "\n".join(lines)


def boundary_summary_table(results: PanopticResults) -> str:
    """All / Things / Stuff rows of Boundary PQ, SQ, RQ (in %) beside PQ, and the ratio."""
    b = results.boundary
    if b is None:
        raise ValueError("these results have no Boundary PQ (evaluate with boundary=True)")
    lines = [
        f"{'Boundary':10s}|{'B-PQ':>8s}{'B-SQ':>8s}{'B-RQ':>8s}{'PQ':>8s}{'N':>5s}",
        "-" * 10 + "+" + "-" * 37,
    ]
    rows = (("All", b.overall, results.overall), ("Things", b.things, results.things))
    for name, q, plain in (*rows, ("Stuff", b.stuff, results.stuff)):
        values = "".join("  " + _pct(v) for v in (q.pq, q.sq, q.rq, plain.pq))
        lines.append(f"{name:10s}|{values}{q.n:5d}")
    lines.append(f"dilation ratio: {b.dilation_ratio:g} of the image diagonal")
    return "\n".join(lines)


def group_table(results: PanopticResults) -> str:
    """One row per class group: PQ, SQ, RQ, PQ† (in %), classes averaged and members."""
    width = max([len(g.name) for g in results.groups] + [8])
    head = f"{'group':{width}s}|{'PQ':>8s}{'SQ':>8s}{'RQ':>8s}{'PQ†':>8s}{'N':>5s}  ids"
    lines = [head, "-" * len(head)]
    for g in results.groups:
        q = g.quality
        values = "".join("  " + _pct(v) for v in (q.pq, q.sq, q.rq, q.pq_dagger))
        ids = ",".join(str(i) for i in g.category_ids)
        lines.append(f"{g.name:{width}s}|{values}{q.n:5d}  {ids}")
    return "\n".join(lines)


def class_table(results: PanopticResults) -> str:
    """One row per class: id, name, thing/stuff, PQ, SQ, RQ, PQ† (in %), TP, FP, FN."""
    width = max([len(c.category.name) for c in results.per_class] + [8])
    head = f"{'id':>5s}  {'category':{width}s}  {'kind':5s}"
    head += "".join(f"{h:>8s}" for h in ("PQ", "SQ", "RQ", "PQ†", "TP", "FP", "FN"))
    lines = [head, "-" * len(head)]
    for c in results.per_class:
        kind = "thing" if c.category.isthing else "stuff"
        values = "".join("  " + _pct(v) for v in (c.pq, c.sq, c.rq, c.pq_dagger))
        counts = "".join(f"{v:8d}" for v in (c.tp, c.fp, c.fn))
        lines.append(f"{c.category.id:5d}  {c.category.name:{width}s}  {kind:5s}{values}{counts}")
    return "\n".join(lines)


def per_class_csv(results: PanopticResults) -> str:
    """The per-class results as CSV text (fractions in [0, 1]; empty where undefined)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    fields = ("pq", "sq", "rq", "pq_dagger")
    counts = ("tp", "fp", "fn", "iou_sum", "pq_dagger_n", "pq_dagger_iou_sum")
    writer.writerow(["category_id", "name", "isthing", *fields, *counts])
    for c in results.per_class:
        scores = ["" if math.isnan(getattr(c, f)) else repr(getattr(c, f)) for f in fields]
        sums = (c.tp, c.fp, c.fn, repr(c.iou_sum), c.dagger_n, repr(c.dagger_iou_sum))
        writer.writerow([c.category.id, c.category.name, int(c.category.isthing), *scores, *sums])
    return out.getvalue()


def _interval(name: str, i: Interval) -> str:
    low, high = _pct(i.low, 7, True), _pct(i.high, 7, True)
    return f"  {name:4s}{_pct(i.estimate, 7, True)}   [{low}, {high}]"


def comparison_table(
    name_a: str, a: PanopticResults, name_b: str, b: PanopticResults, diff: BootstrapResult
) -> str:
    """Both results side by side, then the paired bootstrap interval of A − B (in points)."""
    lines = [
        f"A: {name_a}  PQ {_pct(a.pq)}  PQ† {_pct(a.pq_dagger)}",
        f"B: {name_b}  PQ {_pct(b.pq)}  PQ† {_pct(b.pq_dagger)}",
        f"A − B, paired bootstrap over {diff.n_images} images ({diff.n_samples} resamples, "
        f"seed {diff.seed}), {100 * diff.confidence:g}% interval:",
        _interval("PQ", diff.pq),
        _interval("PQ†", diff.pq_dagger),
        f"  two-sided bootstrap p-value of the PQ difference: {diff.p_value:.3g}",
    ]
    return "\n".join(lines)
