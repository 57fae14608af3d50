"""Both distributions install, and the metrics library stands alone without torch.

The checks run in the installation pip made (see installed.py): the declared version, the
typing marker, the dependencies, and the console script.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

import pytest

from tests.metrics.installed import ROOT, Installed, install

pytestmark = pytest.mark.slow  # a pip install from a plain checkout (a few seconds)

_METADATA = """
import importlib.metadata as m, json, pathlib, panoptic_metrics as p
print(json.dumps({
    "version": m.version("panoptic-metrics"),
    "module_version": p.__version__,
    "typed": (pathlib.Path(p.__file__).parent / "py.typed").exists(),
    "requires": m.requires("panoptic-metrics") or [],
    "module": p.__file__,
}))
"""


def test_metrics_distribution_is_installed_with_its_declared_version(
    installed_metrics: Installed,
) -> None:
    declared = tomllib.loads((ROOT / "metrics" / "pyproject.toml").read_text())["project"]
    found = json.loads(installed_metrics.python(_METADATA))
    assert found["version"] == found["module_version"] == declared["version"]
    assert found["typed"]
    assert not found["module"].startswith(str(ROOT / "metrics" / "src"))  # pip's copy


def test_metrics_dependencies_exclude_torch(installed_metrics: Installed) -> None:
    requires = json.loads(installed_metrics.python(_METADATA))["requires"]
    core = [r for r in requires if "extra ==" not in r]
    names = sorted(r.split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in core)
    assert names == ["numba", "numpy", "pillow", "zlib-ng"]
    (zlib_ng,) = (r for r in core if r.lower().startswith("zlib-ng"))
    assert 'platform_python_implementation == "CPython"' in zlib_ng  # only where it has wheels


def test_console_script_runs(installed_metrics: Installed) -> None:
    done = installed_metrics.run([installed_metrics.script("panoptic-metrics"), "--version"])
    version, decoder = done.stdout.strip().splitlines()
    assert version == "panoptic-metrics 0.1.0"
    assert decoder.startswith("PNG decoding: numba unfilter, inflate by ")


def test_importing_panoptic_metrics_does_not_import_torch() -> None:
    code = "import sys, panoptic_metrics; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.needs_torch
def test_harness_distribution_is_installed(tmp_path_factory: pytest.TempPathFactory) -> None:
    sources = ["pyproject.toml", "README.md", "reference_model", "benchmark", "reports"]
    harness = install("seamless-harness", sources, tmp_path_factory.mktemp("harness"), None)
    code = (
        "import importlib.metadata as m, json; "
        "print(json.dumps([m.version('seamless-harness'), m.requires('seamless-harness')]))"
    )
    version, requires = json.loads(harness.python(code))
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert version == declared["version"]
    assert any(r.startswith("panoptic-metrics") for r in requires)
    assert any(r.startswith("torch>=") for r in requires)
