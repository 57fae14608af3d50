"""Shared fixtures: a small synthetic dataset generated once per test session, and the
environment of a subprocess that imports this checkout."""

from __future__ import annotations

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
