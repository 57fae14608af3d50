"""Where logged iterations go: `log.jsonl` (always) and TensorBoard (when installed)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import IO, Any

from .run_dir import RunDirectory

log = logging.getLogger(__name__)


class MetricsLog:
    """Append one JSON line per logged iteration; mirror the numbers to TensorBoard.

    Args:
        run: the run directory.
        start_iteration: entries past it are dropped from an existing log (a resumed run).
        enabled: False on ranks other than 0 (they log nothing).
        tensorboard: also write TensorBoard events if `tensorboard` is importable.
    """

    def __init__(
        self, run: RunDirectory, start_iteration: int, *, enabled: bool, tensorboard: bool
    ) -> None:
        self._file: IO[str] | None = None
        self._writer: Any = None
        if not enabled:
            return
        self._file = run.open_log(after_iteration=start_iteration)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                log.info("tensorboard is not installed: logging to %s only", run.log)
            else:
                self._writer = SummaryWriter(str(run.tensorboard), purge_step=start_iteration + 1)

    def write(self, entry: Mapping[str, Any]) -> None:
        if self._file is None:
            return
        self._file.write(json.dumps(dict(entry), sort_keys=True) + "\n")
        self._file.flush()
        if self._writer is not None:
            step = int(entry["iteration"])
            for key, value in entry.items():
                if key not in ("iteration", "epoch", "time") and isinstance(value, float):
                    group = "lr" if key == "lr" else f"loss/{key}"
                    self._writer.add_scalar(group, value, step)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
