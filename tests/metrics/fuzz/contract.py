"""The contract every fuzz family checks, the budget of a run, and the per-family counts.

Contract (issue 11): a reader either returns what a reference decoder returns (Pillow's ids for
a PNG the library accepts) or raises `PanopticInputError` (`PngError` for the bare decoder)
naming the file; never another exception, a hang or a signal.

Budget: the default test run is seeded (`derandomize`) and small, so CI stays fast;
`nox -s fuzz` sets FUZZ_EXAMPLES (examples per family), FUZZ_MUTANTS (edited inputs per
example, at most) and FUZZ_SEED for the long run.
"""

from __future__ import annotations

import io
import os
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as st
from panoptic_metrics.errors import PanopticInputError
from panoptic_metrics.io import read_panoptic_png
from panoptic_metrics.png import PngError, PngIdDecoder, parse, read_grey, reference
from PIL import Image

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0"))  # 0: the CI-fast default
SEED = os.environ.get("FUZZ_SEED")
# Mutants of one generated valid input per example (making the input costs the most).
MUTANTS = int(os.environ.get("FUZZ_MUTANTS", "2"))

# family -> outcome ("accepted", "refused") -> count, printed by conftest.py
COUNTS: defaultdict[str, Counter[str]] = defaultdict(Counter)

F = TypeVar("F", bound=Callable[..., Any])


def fuzz(default_examples: int) -> Callable[[F], F]:
    """Hypothesis settings of one family: `default_examples` seeded examples in the default
    run, FUZZ_EXAMPLES (seeded by FUZZ_SEED) in the long one."""

    def decorate(test: F) -> F:
        long_run = EXAMPLES > 0
        configured = settings(
            max_examples=EXAMPLES if long_run else default_examples,
            derandomize=not long_run or SEED is None,
            database=None,
            deadline=None,
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.data_too_large,
                HealthCheck.filter_too_much,
                HealthCheck.function_scoped_fixture,
            ],
        )(test)
        if long_run and SEED is not None:
            configured = seed(int(SEED))(configured)
        return configured

    return decorate


def mutants(edit: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    """1 to MUTANTS edits, each applied to the same valid input."""
    return st.lists(edit, min_size=1, max_size=MUTANTS)


def pillow_values(data: bytes) -> np.ndarray:
    """Pillow's reading of a PNG: ids R + 256 G + 65536 B of colour images (as panopticapi's
    `rgb2id`), the samples of greyscale ones."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode in ("L", "I;16", "I;16B", "I"):
                return np.asarray(image).astype(np.int64)
            rgb = np.asarray(image.convert("RGB"), dtype=np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def _expected(data: bytes, path: Path, family: str) -> np.ndarray:
    """Pillow's values; where Pillow refuses a file the library accepts (it checks ancillary
    chunks, such as a tRNS of the wrong length, that segment ids do not use), the values of
    the plain-Python twin written from the PNG specification."""
    try:
        return pillow_values(data)
    except (OSError, SyntaxError, ValueError, EOFError):
        COUNTS[family]["accepted where Pillow refuses"] += 1
        return reference.ids(parse(data, str(path)))


def _named(message: str, name: str) -> None:
    assert name in message, f"the error does not name the file: {message}"


def check_png(family: str, data: bytes, path: Path) -> str:
    """Decode `data` on every library path; returns "accepted" or "refused".

    The library path (`read_panoptic_png`, 8-bit RGB only), the decoder of every layout
    (`PngIdDecoder`) and the greyscale reader (`read_grey`) must each give Pillow's values
    or refuse with an error naming the file.
    """
    path.write_bytes(data)
    outcomes = []
    paths: list[tuple[str, Callable[[], np.ndarray], type[ValueError]]] = [
        ("read_panoptic_png", lambda: read_panoptic_png(path), PanopticInputError),
        ("PngIdDecoder", lambda: PngIdDecoder(block_rows=2).decode(data, name=str(path)), PngError),
        ("read_grey", lambda: read_grey(data, name=str(path)), PngError),
    ]
    for what, decode, refusal in paths:
        try:
            values = decode()
        except refusal as exc:
            _named(str(exc), str(path))
            outcomes.append("refused")
        else:
            expected = _expected(data, path, family)
            assert np.array_equal(values, expected), f"{what} differs from Pillow"
            outcomes.append("accepted")
    outcome = "accepted" if "accepted" in outcomes else "refused"
    COUNTS[family][outcome] += 1
    return outcome


def check_refused_or_equal(
    family: str, source: str, read: Callable[[], Any], expected: Callable[[Any], None]
) -> str:
    """Run a reader: a PanopticInputError must name `source`; a result is checked by
    `expected`. Returns "accepted" or "refused"."""
    try:
        result = read()
    except PanopticInputError as exc:
        _named(str(exc), source)
        outcome = "refused"
    else:
        expected(result)
        outcome = "accepted"
    COUNTS[family][outcome] += 1
    return outcome
