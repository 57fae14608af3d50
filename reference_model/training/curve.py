"""PQ along the way: `curve.jsonl` in the run directory, one line per evaluation during training.

    {"iteration": 125, "images": 16, "pq": 0.31, "pq_dagger": 0.30, "pq_th": 0.12,
     "pq_st": 0.45, "miou": 0.52}

The trainer evaluates at `evaluation_iterations(...)` (by default at 25%, 50%, 75% and 100%
of the schedule). The file is rewritten atomically for each line (a temporary file and a
rename: it never holds a torn line), and an entry replaces any earlier one of its iteration;
a resumed run first drops the entries past its checkpoint, so no iteration appears twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from panoptic_metrics.io import write_text_atomic

# The headline numbers of each entry (fractions, as metrics.json holds them).
CURVE_KEYS = ("pq", "pq_dagger", "pq_th", "pq_st", "miou")
QUARTERS = 4  # the default: evaluations at 25%, 50%, 75% and 100% of the schedule


def evaluation_iterations(iterations: int, every: int | None) -> tuple[int, ...]:
    """The iterations after which the trainer evaluates: every `every` and at the last one;
    `None` for the quarters of the schedule; 0 for none."""
    if every is None:
        # the first iteration at or past each quarter (ceiling division)
        points = {-(-k * iterations // QUARTERS) for k in range(1, QUARTERS + 1)}
    elif every < 0:
        raise ValueError(f"the evaluation interval must be >= 0 or None, got {every}")
    elif every == 0:
        return ()
    else:
        points = {*range(every, iterations + 1, every), iterations}
    return tuple(sorted(points))


class CurveLog:
    """The entries of a run's `curve.jsonl` at `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def entries(self) -> list[dict[str, Any]]:
        """The entries on disk, by iteration (none when the file is missing)."""
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        entries = [json.loads(line) for line in lines if line.strip()]
        return sorted(entries, key=lambda e: int(e["iteration"]))

    def _write(self, entries: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(e, sort_keys=True) + "\n" for e in entries)
        write_text_atomic(text, self.path)

    def truncate(self, after_iteration: int) -> None:
        """Drop the entries past `after_iteration` (a run resumed from that checkpoint)."""
        entries = self.entries()
        kept = [e for e in entries if int(e["iteration"]) <= after_iteration]
        if len(kept) != len(entries):
            self._write(kept)

    def add(self, entry: Mapping[str, Any]) -> None:
        """Append `entry` (its `iteration` replacing an earlier entry of the same iteration)."""
        iteration = int(entry["iteration"])
        entries = [e for e in self.entries() if int(e["iteration"]) != iteration]
        self._write(sorted([*entries, dict(entry)], key=lambda e: int(e["iteration"])))
