"""numba's `njit`, with its on-disk cache wherever numba finds a writable place for it.

numba caches a kernel next to its source (`__pycache__`); where the package directory is
read-only (a system or container install) it uses `NUMBA_CACHE_DIR` if set, else the user's
cache directory (`$XDG_CACHE_HOME/numba` or `~/.cache/numba` on Linux). Where none of them is
writable numba refuses to define a cached function at all (a RuntimeError at import); the
kernels are then compiled in every process instead, with one warning that says how to cache.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import numba

F = TypeVar("F", bound=Callable[..., Any])

_NO_LOCATION = "no locator available"  # numba's message when no cache directory is writable


def njit(*, cache: bool = False, **options: Any) -> Callable[[F], F]:
    """`numba.njit(cache=..., **options)`, uncached where no cache directory is writable."""

    def decorate(function: F) -> F:  # typed as the Python function, as mypy saw it before
        if cache:
            try:
                compiled: F = numba.njit(cache=True, **options)(function)
                return compiled
            except RuntimeError as error:
                if _NO_LOCATION not in str(error):
                    raise
                _warn_uncached()
        uncached: F = numba.njit(**options)(function)
        return uncached

    return decorate


@functools.cache  # once per process, not once per kernel
def _warn_uncached() -> None:
    warnings.warn(
        "panoptic_metrics: numba cannot write its kernel cache next to the package nor in the "
        "user cache directory, so the kernels are compiled in every process; set "
        "NUMBA_CACHE_DIR to a writable directory to cache them",
        RuntimeWarning,
        stacklevel=4,
    )
