"""PQ per class group (docs/metrics.md, "PQ per class group"): a table with a row per group
(e.g. the Cityscapes categories flat, construction, ..., vehicle) and a column per run.

The numbers are each run's `PanopticResults.groups` (metrics.json `groups`, written on
Cityscapes-labelled data): a group's PQ is the mean of its classes' PQ, as PQ_Th and PQ_St
are. A run without groups gets a notice instead of a column.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from panoptic_metrics import GroupResult

from .runs import RunData, lacking
from .tables import Table

GROUP = "group"
CLASSES = "classes"


def run_groups(run: RunData) -> dict[str, GroupResult]:
    """Group name -> the run's result, in the run's order; {} without groups."""
    if run.results is None:
        return {}
    return {g.name: g for g in run.results.groups}


def group_notices(runs: Sequence[RunData]) -> list[str]:
    """A notice per run with metrics but no `groups`; one more when no run has any."""
    what = "class groups (`groups`; written for Cityscapes-labelled data)"
    return lacking(runs, lambda r: bool(r.groups), what, "group table")


def group_table(runs: Sequence[RunData]) -> Table | None:
    """PQ (%) per group (rows, in first-seen order) and run with groups (columns), with the
    group's classes by name; None when no run has groups."""
    found = [(run, run_groups(run)) for run in runs]
    found = [(run, groups) for run, groups in found if groups]
    if not found:
        return None
    names = list(dict.fromkeys(name for _, groups in found for name in groups))
    rows = []
    for name in names:
        run, first = next((r, g[name]) for r, g in found if name in g)
        assert run.results is not None
        labels = {c.id: c.name for c in run.results.categories.categories}
        row: dict[str, str | float] = {
            GROUP: name,
            CLASSES: ", ".join(labels[i] for i in first.category_ids),
        }
        for other, groups in found:
            group = groups.get(name)
            row[other.name] = float("nan") if group is None else 100.0 * group.quality.pq
        rows.append(row)
    columns = [GROUP, CLASSES, *(run.name for run, _ in found)]
    frame = pd.DataFrame(rows, columns=columns)
    formats = {run.name: "{:.1f}" for run, _ in found}
    caption = (
        "PQ in % per group of classes (metrics.json `groups`): the mean of the PQ of the "
        "group's classes, as PQ_Th and PQ_St are means over things and stuff; a dash where the "
        "run has the group but none of its classes is defined, or lacks the group."
    )
    kinds = ("reproduced",) * len(rows)
    return Table("groups", caption, frame, kinds, formats, title="PQ per class group")
