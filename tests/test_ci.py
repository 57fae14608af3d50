"""The CI entry point runs exactly the test command that README.md gives."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_ci_runs_the_readme_test_command() -> None:
    test_command = next(c for c in _readme_commands() if "nox -s tests" in c)
    ci_lines = [
        ln
        for ln in (ROOT / ".ci" / "run").read_text().splitlines()
        if ln and not ln.startswith("#")
    ]
    assert ci_lines[-1] == test_command
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


def test_readme_has_the_main_job_command() -> None:
    assert any(c.endswith("nox -s demo") for c in _readme_commands())
