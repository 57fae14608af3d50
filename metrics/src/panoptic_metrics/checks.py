"""Checks of values read from JSON, before they reach numpy or the file system.

JSON integers have no size limit and JSON strings may hold lone UTF-16 surrogates
(`"\\ud800"`), which no file name or UTF-8 output can carry; numpy raises `OverflowError` on
an integer beyond its dtype. The readers check every value here first, so that bad data is a
`PanopticInputError` naming the file and the value.
"""

from __future__ import annotations

import reprlib
from typing import Any

import numpy as np

INT64_MIN, INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)

_SHOW = reprlib.Repr()
_SHOW.maxstring = 60
_SHOW.maxother = 60
_SHOW.maxlong = 40
_SHOW.maxlevel = _SHOW.maxdict = _SHOW.maxlist = 3


def show(value: Any) -> str:
    """A short repr of a value for an error message: long or deeply nested ones are cut."""
    return _SHOW.repr(value)


def is_int(value: Any) -> bool:
    """True for a Python or numpy integer; False for bools."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def fits_int64(value: int) -> bool:
    """True if the integer `value` fits an int64."""
    return INT64_MIN <= value <= INT64_MAX


def is_text(value: Any) -> bool:
    """True for a string that UTF-8 can encode (no lone surrogates)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
