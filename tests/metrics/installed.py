"""The distributions as pip installs them, for the packaging and console-script tests.

Under nox the test environment has them installed (`pip install ./metrics[all] -e .`): the
tests use that installation. Run from a plain checkout (the project on PYTHONPATH, nothing
installed), they are installed here, into a temporary `--target` folder, from a copy of their
sources (so the checkout gets no build/ or egg-info): no index, no build isolation and no
dependencies, which this environment already has. Either way the tests run what pip made.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_IGNORE = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".*cache*", ".nox")


@dataclass(frozen=True)
class Installed:
    """Where a distribution is installed: the environment variables to run Python there, and
    the folder of its console scripts."""

    env: dict[str, str]
    bin: Path

    def python(self, code: str) -> str:
        """Run `code` with this installation's Python; return its stdout."""
        return self.run([sys.executable, "-c", code]).stdout

    def run(self, args: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
        """Run a command in this installation (checked unless `check=False`)."""
        options.setdefault("check", True)
        return subprocess.run(args, env=self.env, capture_output=True, text=True, **options)

    def script(self, name: str) -> str:
        return str(self.bin / name)


def _installed_here(distribution: str, script: str | None) -> Installed | None:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    bin_dir = Path(sys.executable).parent
    if script is not None and not (bin_dir / script).exists():
        return None
    return Installed(dict(os.environ), bin_dir)


def install(distribution: str, sources: list[str], folder: Path, script: str | None) -> Installed:
    """`distribution` as installed in this environment, else pip-installed into `folder`
    from a copy of `sources` (paths relative to the repository, the first its pyproject)."""
    here = _installed_here(distribution, script)
    if here is not None:
        return here
    copy, target = folder / "src", folder / "site"
    for source in sources:
        path = ROOT / source
        if path.is_dir():
            shutil.copytree(path, copy / source, ignore=_IGNORE)
        else:
            (copy / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, copy / source)
    project = copy / Path(sources[0]).parent
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
    pip += ["--no-build-isolation", "--target", str(target), str(project)]
    subprocess.run(pip, check=True, capture_output=True, text=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(target)  # the installed copy, not the checkout's sources
    env["PATH"] = f"{target / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return Installed(env, target / "bin")
