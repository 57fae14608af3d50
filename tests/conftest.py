"""Shared fixtures: a small synthetic dataset generated once per test session, the
environment of a subprocess that imports this checkout, and fvcore hidden."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from reference_model.synthetic import generate

SMALL = {"height": 64, "width": 128, "seed": 7}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def checkout_env() -> dict[str, str]:
    """The environment of a subprocess (python -m ..., torchrun): this checkout and its
    metrics library importable, one thread per process."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    paths = [str(ROOT), str(ROOT / "metrics" / "src"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """19 train and 19 val images of 64x128: every class appears in each split."""
    root = tmp_path_factory.mktemp("synthetic")
    generate(root, {"train": 19, "val": 19}, workers=1, progress=False, **SMALL)
    return root


@pytest.fixture
def no_fvcore(monkeypatch: pytest.MonkeyPatch) -> None:
    """fvcore as on a machine without it, to the check that looks for it
    (`importlib.util.find_spec`); an import of it would still succeed, so a job that skipped
    the check would run to its end."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "fvcore" else find_spec(name, *a),
    )
