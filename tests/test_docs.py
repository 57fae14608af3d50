"""The repository explains itself: no tracked file cites a document outside it, and the
relative links of docs/*.md and the README files lead to files that exist."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Project notes kept outside the repository; a reader of the repository cannot follow them.
OUTSIDE = re.compile(r"SPEC\.md|SPEC:|PERF-NOTES|DESIGN\.md|STYLE\.md|\.\./shared|\bshared/")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")  # [text](target)
SELF = Path(__file__).relative_to(ROOT).as_posix()


def _tracked() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, text=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in out.split("\0") if name and name != SELF]


def _documents() -> list[Path]:
    """docs/*.md and every README.md outside hidden folders and outputs (data/, runs/)."""
    readmes = [
        p
        for p in ROOT.rglob("README.md")
        if not any(
            part.startswith(".") or part in ("data", "runs") for part in p.parts[len(ROOT.parts) :]
        )
    ]
    return sorted((ROOT / "docs").glob("*.md")) + sorted(readmes)


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
        return None  # binary, or deleted in the working tree


def test_no_tracked_file_cites_a_document_outside_the_repository() -> None:
    citing = []
    for path in _tracked():
        text = _text(path)
        for number, line in enumerate((text or "").splitlines(), 1):
            if OUTSIDE.search(line):
                citing.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not citing, "cite docs/ or the paper instead:\n" + "\n".join(citing)


def test_the_documents_exist() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in _documents()}
    assert {"docs/paper.md", "docs/metrics.md", "docs/contracts.md", "README.md"} <= names
    assert {"benchmark/README.md", "metrics/README.md"} <= names


@pytest.mark.parametrize("document", _documents(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(document: Path) -> None:
    broken = []
    for target in LINK.findall(document.read_text(encoding="utf-8")):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL or an anchor of the same page
        path = (document.parent / target.split("#", 1)[0]).resolve()
        if not path.exists():
            broken.append(target)
    assert not broken, f"{document.relative_to(ROOT)}: links to missing files {broken}"
