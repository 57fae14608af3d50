"""The metrics library as a user installs it: a fresh venv and `pip install ./metrics`, no extras.

The speed benchmark's `--speed-installed` runs ours (`ours`, `ours-cold`, `ours-boundary`) with
this venv's interpreter, so that its figures are those of the install line in the README, not
of the development environment (where other packages, a source checkout on `PYTHONPATH` and a
long-warm kernel cache may differ).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def installed_python(root: Path) -> Path:
    """A venv made afresh at `root` with `pip install ./metrics`: its Python interpreter."""
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    python = root / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, str(ROOT / "metrics")], check=True)
    return python
