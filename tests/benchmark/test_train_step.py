"""The machinery of `python -m benchmark.train_step` (no timing here): extracting the base
commit, the loss comparison, and its argument checks."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from benchmark import train_step

pytestmark = pytest.mark.needs_torch


def test_extract_writes_the_commit_tree_once(tmp_path: Path) -> None:
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=train_step.ROOT, capture_output=True, text=True
    )
    if head.returncode:
        pytest.skip("not a git checkout")
    tree, sha = train_step.extract("HEAD", tmp_path)
    assert sha == head.stdout.strip()
    assert tree == tmp_path / sha
    assert (tree / "reference_model" / "build.py").is_file()
    assert (tree / "tests" / "reference_model" / "conftest.py").is_file()  # the child's batch
    marker = tree / "reference_model" / "marker"
    marker.write_text("kept")
    assert train_step.extract("HEAD", tmp_path)[0] == tree
    assert marker.read_text() == "kept"  # reused, not extracted again


def test_loss_difference_is_relative_to_the_total() -> None:
    base = [{"a": 2.0, "b": 0.0}, {"a": 1.0, "b": 1.0}]
    this = [{"a": 2.0, "b": 1e-3}, {"a": 1.5, "b": 1.0}]
    # step 1: 1e-3 / (2 + 0); step 2: 0.5 / (1 + 1); a per-term ratio would divide by b = 0
    assert train_step._max_rel(this, base) == pytest.approx([5e-4, 0.25])


@pytest.mark.parametrize(
    "argv", [["--rounds", "0"], ["--steps", "0"], ["--forms", "combined,both"]]
)
def test_bad_arguments_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as error:
        train_step.main(argv)
    assert error.value.code == 2
