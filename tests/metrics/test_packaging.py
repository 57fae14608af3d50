"""Both distributions install, and the metrics library stands alone without torch.

The checks run in the installation pip made (see installed.py): the declared version, the
typing marker, the dependencies, and the console script.
"""

from __future__ import annotations

import email
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.metrics.installed import _IGNORE, ROOT, Installed, install

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


def test_build_makes_an_sdist_and_a_wheel_that_install_into_a_clean_venv(
    tmp_path: Path,
) -> None:
    """`python -m build metrics` (isolated: setuptools from the index), then the wheel alone in
    a fresh venv, its dependencies from the index: what a user of the published package gets."""
    source, dist = tmp_path / "metrics", tmp_path / "dist"
    shutil.copytree(ROOT / "metrics", source, ignore=_IGNORE)  # no build/ in the checkout
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # not the checkout's
    build = [sys.executable, "-m", "build", "--outdir", str(dist), str(source)]
    subprocess.run(build, check=True, capture_output=True, text=True, env=env)
    (sdist,) = dist.glob("panoptic_metrics-0.1.0.tar.gz")
    (wheel,) = dist.glob("panoptic_metrics-0.1.0-py3-none-any.whl")

    top = "panoptic_metrics-0.1.0/"
    with tarfile.open(sdist) as archive:
        names = set(archive.getnames())
    for name in ("CHANGELOG.md", "README.md", "pyproject.toml", "src/panoptic_metrics/py.typed"):
        assert top + name in names
    with zipfile.ZipFile(wheel) as archive:
        assert "panoptic_metrics/py.typed" in archive.namelist()
        info = "panoptic_metrics-0.1.0.dist-info"
        metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
        scripts = archive.read(f"{info}/entry_points.txt").decode()
    assert "panoptic-metrics = panoptic_metrics.cli:main" in scripts
    assert metadata["Name"] == "panoptic-metrics"
    assert metadata["License-Expression"] == "BSD-3-Clause"
    assert "Typing :: Typed" in metadata.get_all("Classifier")
    assert metadata["Description-Content-Type"] == "text/markdown"
    (zlib_ng,) = (
        Requirement(r)
        for r in metadata.get_all("Requires-Dist")
        if r.startswith("zlib-ng") and "extra" not in r
    )
    expected_zlib = "zlib-ng " if zlib_ng.marker and zlib_ng.marker.evaluate() else "CPython zlib "

    venv.create(tmp_path / "venv", with_pip=True)
    bin_dir = tmp_path / "venv" / "bin"
    python = bin_dir / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", str(wheel)]
    subprocess.run(pip, check=True, capture_output=True, text=True, env=env)
    version = subprocess.run(
        [str(bin_dir / "panoptic-metrics"), "--version"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout.splitlines()
    assert version[0] == "panoptic-metrics 0.1.0"
    assert version[1].startswith(f"PNG decoding: numba unfilter, inflate by {expected_zlib}")
    where = (
        "import panoptic_metrics as p, importlib.util as u; print(p.__file__, u.find_spec('torch'))"
    )
    found = subprocess.run(
        [str(python), "-c", where], check=True, capture_output=True, text=True, env=env
    )
    module, torch = found.stdout.split()
    assert module.startswith(str(tmp_path / "venv"))
    assert torch == "None"


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


# The README's thirty-second example (metrics/README.md), which derives PQ = 2/7 there.
_TINY_RUN = """
import numpy as np, panoptic_metrics as p
categories = p.CategorySet.from_coco(
    [{"id": 1, "name": "road", "isthing": 0}, {"id": 2, "name": "car", "isthing": 1}]
)
segments = [{"id": 1, "category_id": 1}, {"id": 2, "category_id": 2}]
gt = np.array([[1, 1, 1, 1, 1, 1, 2, 2, 2, 2]])
pred = np.array([[1, 1, 1, 2, 2, 2, 2, 2, 2, 2]])
acc = p.PanopticAccumulator(categories)
acc.update(p.from_segments(gt, segments), p.from_segments(pred, segments))
print(p.__file__, round(acc.compute().pq, 4))
"""


def _in_read_only(folders: list[Path], command: list[str]) -> list[str]:
    """`command`, run with `folders` read-only: by permission bits, and where this runs as
    root (which writes through them) by read-only bind mounts in a user namespace."""
    for folder in folders:
        subprocess.run(["chmod", "-R", "a-w", str(folder)], check=True)
    if os.geteuid() != 0:
        return command
    probe = ["unshare", "-rm", "true"]
    if shutil.which("unshare") is None or subprocess.run(probe, capture_output=True).returncode:
        pytest.skip("root writes through permission bits, and no user namespace to mount in")
    mounts = " && ".join(
        f"mount --bind -o ro {shlex.quote(str(f))} {shlex.quote(str(f))}" for f in folders
    )
    return ["unshare", "-rm", "sh", "-c", f"{mounts} && exec {shlex.join(command)}"]


def _read_only_package(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the package without any numba cache, and an environment that imports it with
    its home and user cache directory under `tmp_path`."""
    site = tmp_path / "site"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(
        ROOT / "metrics" / "src" / "panoptic_metrics", site / "panoptic_metrics", ignore=ignore
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env.update(
        PYTHONPATH=str(site), HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "cache")
    )
    (tmp_path / "home").mkdir()
    return site, env


def _cache_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.nbi"))


def test_a_read_only_install_caches_its_kernels_in_the_user_cache_directory(
    tmp_path: Path,
) -> None:
    site, env = _read_only_package(tmp_path)
    command = _in_read_only([site], [sys.executable, "-c", _TINY_RUN])
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    module, pq = done.stdout.split()
    assert module.startswith(str(site))
    assert pq == "0.2857"
    assert _cache_files(site) == []
    cached = _cache_files(tmp_path / "cache" / "numba")
    assert any("match_segments" in path.name for path in cached)
    again = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    assert again.stdout == done.stdout
    assert _cache_files(tmp_path / "cache" / "numba") == cached  # loaded, not written again


def test_without_any_writable_cache_directory_the_kernels_compile_uncached(
    tmp_path: Path,
) -> None:
    """numba refuses to define a cached kernel where it can write no cache: compiled instead."""
    site, env = _read_only_package(tmp_path)
    (tmp_path / "cache").mkdir()
    command = _in_read_only(
        [site, tmp_path / "cache", tmp_path / "home"], [sys.executable, "-c", _TINY_RUN]
    )
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split()[1] == "0.2857"
    assert done.stderr.count("RuntimeWarning: panoptic_metrics: numba cannot write") == 1
    assert "set NUMBA_CACHE_DIR" in done.stderr
    assert _cache_files(tmp_path) == []
