"""Results files are written atomically and readable like any file the user writes; the one
atomic writer (`write_bytes_atomic`) serves JSON, text and PNGs."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from panoptic_metrics.io import (
    write_chunks_atomic,
    write_json_atomic,
    write_png_atomic,
    write_text_atomic,
)
from PIL import Image


def test_atomic_write_has_the_mode_of_a_plain_write(tmp_path: Path) -> None:
    plain = tmp_path / "plain.json"
    plain.write_text("{}")
    atomic = tmp_path / "atomic.json"
    write_json_atomic({"pq": 0.5}, atomic)
    assert stat.S_IMODE(atomic.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    assert atomic.read_text() == '{\n "pq": 0.5\n}\n'


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    write_text_atomic("old", target)
    with pytest.raises(ValueError, match="Out of range float"):
        write_json_atomic({"pq": float("nan")}, target)
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["results.json"]


def test_a_png_written_atomically_reads_back_and_an_unencodable_one_changes_nothing(
    tmp_path: Path,
) -> None:
    target = tmp_path / "ids.png"
    ids = np.arange(24, dtype=np.uint16).reshape(4, 6) * 1000  # a 16-bit instance-id map
    write_png_atomic(ids, target)
    assert np.array_equal(np.asarray(Image.open(target)), ids)
    with pytest.raises(TypeError):  # Pillow has no mode for complex pixels
        write_png_atomic(np.zeros((2, 2), dtype=np.complex64), target)
    assert np.array_equal(np.asarray(Image.open(target)), ids)
    assert os.listdir(tmp_path) == ["ids.png"]


def test_streamed_chunks_are_made_with_the_collector_paused(tmp_path: Path) -> None:
    import gc

    seen: list[bool] = []

    def chunks() -> Iterator[bytes]:
        for part in (b"a", b"b"):
            seen.append(gc.isenabled())
            yield part

    assert gc.isenabled()
    write_chunks_atomic(chunks(), tmp_path / "out.txt")
    assert seen == [False, False]
    assert gc.isenabled()
    assert (tmp_path / "out.txt").read_bytes() == b"ab"
