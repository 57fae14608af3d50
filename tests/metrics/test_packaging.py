"""Both distributions install, and the metrics library stands alone without torch."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_metrics_distribution_is_installed_with_its_declared_version() -> None:
    import panoptic_metrics

    declared = tomllib.loads((ROOT / "metrics" / "pyproject.toml").read_text())["project"]
    assert importlib.metadata.version("panoptic-metrics") == declared["version"]
    assert panoptic_metrics.__version__ == declared["version"]
    assert (Path(panoptic_metrics.__file__).parent / "py.typed").exists()


def test_metrics_dependencies_exclude_torch() -> None:
    requires = importlib.metadata.requires("panoptic-metrics") or []
    core = [r for r in requires if "extra ==" not in r]
    names = sorted(r.split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in core)
    assert names == ["numba", "numpy", "pillow"]


def test_importing_panoptic_metrics_does_not_import_torch() -> None:
    code = "import sys, panoptic_metrics; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.needs_torch
def test_harness_distribution_is_installed() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert importlib.metadata.version("seamless-harness") == declared["version"]
    requires = importlib.metadata.requires("seamless-harness") or []
    assert any(r.startswith("panoptic-metrics") for r in requires)
    assert any(r.startswith("torch>=") for r in requires)
