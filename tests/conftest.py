"""Shared fixtures: a small synthetic dataset generated once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from reference_model.synthetic import generate

SMALL = {"height": 64, "width": 128, "seed": 7}


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """19 train and 19 val images of 64x128: every class appears in each split."""
    root = tmp_path_factory.mktemp("synthetic")
    generate(root, {"train": 19, "val": 19}, workers=1, progress=False, **SMALL)
    return root
