"""The fuzz suite's summary: inputs accepted and refused per family (`nox -s fuzz` prints it)."""

from __future__ import annotations

import pytest

from tests.metrics.fuzz.contract import COUNTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not COUNTS:
        return
    terminalreporter.section("fuzz: inputs per family")
    total = 0
    for family, counts in sorted(COUNTS.items()):
        n = counts["accepted"] + counts["refused"]
        total += n
        other = counts["accepted where Pillow refuses"]
        terminalreporter.write_line(
            f"{family:24} {n:7} inputs: {counts['accepted']:7} accepted, "
            f"{counts['refused']:7} refused"
            + (f" ({other} decodes of accepted files that Pillow refuses)" if other else "")
        )
    reports = terminalreporter.stats.get("failed", [])
    failed = sum("fuzz/" in report.nodeid for report in reports)
    terminalreporter.write_line(
        f"{'all families':24} {total:7} inputs; {failed} failing fuzz tests (contract breaks)"
    )
