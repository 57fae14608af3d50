"""The repository explains itself: every Markdown document a tracked file names is in the
repository, no relative path leads out of it, and the relative links of docs/*.md and the
README files lead to files that exist."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# A cited document: `name.md`, with or without a folder (docs/metrics.md, ../x/y.md).
CITED = re.compile(r"(?<![\w./-])((?:\.{1,2}/)*[\w-]+(?:/[\w.-]+)*\.md)\b")
# A relative path that climbs out of the file's folder (`../name`). One that ends beside the
# checkout (from the file's folder, or from the root for a folder there) names notes kept next
# to it; hostile paths in the tests end far above it.
CLIMB = re.compile(r"(?<![\w.])((?:\.\./)+[\w.-]+(?:/[\w.-]+)*)")
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


def _beside(path: Path, *, existing: bool = False) -> bool:
    """Does `path` lead to a folder beside the checkout (one that exists, if `existing`)?"""
    path = path.resolve()
    if not path.is_relative_to(ROOT.parent) or path.is_relative_to(ROOT) or path == ROOT.parent:
        return False
    top = ROOT.parent / path.relative_to(ROOT.parent).parts[0]
    return top.exists() or not existing


def _outside(path: Path, text: str, documents: set[str]) -> list[str]:
    """The documents `text` (the content of `path`) names that the repository does not hold,
    and its relative paths that lead beside the repository."""
    found = []
    for name in CITED.findall(text):
        here = (path.parent / name).resolve()
        inside = here.is_relative_to(ROOT) and here.exists()
        if not (inside or (ROOT / name).exists() or Path(name).name in documents):
            found.append(name)
    for name in CLIMB.findall(text):
        if _beside(path.parent / name) or (
            not (path.parent / name).exists() and _beside(ROOT / name, existing=True)
        ):
            found.append(name)
    return found


def test_no_tracked_file_cites_a_document_outside_the_repository() -> None:
    tracked = _tracked()
    documents = {p.name for p in tracked if p.suffix == ".md"}
    citing = []
    for path in tracked:
        for number, line in enumerate((_text(path) or "").splitlines(), 1):
            if names := _outside(path, line, documents):
                citing.append(f"{path.relative_to(ROOT)}:{number}: {', '.join(names)}")
    assert not citing, "cite docs/ or the paper instead:\n" + "\n".join(citing)


def test_the_check_finds_a_document_outside_and_a_path_out_of_the_repository() -> None:
    documents = {"README.md", "metrics.md"}
    source = ROOT / "tests" / "example.py"
    assert _outside(source, "see docs/metrics.md and README.md", documents) == []
    assert _outside(source, "see NOTES.md, section 2", documents) == ["NOTES.md"]
    assert _outside(source, "see ../../elsewhere/notes.txt", documents) == [
        "../../elsewhere/notes.txt"
    ]
    assert _outside(source, "see ../../notes/paper/", documents) == ["../../notes/paper"]
    assert _outside(source, "open('../../../../etc/passwd')", documents) == []


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
