"""Checks of values read from JSON, before they reach numpy or the file system.

JSON integers have no size limit and JSON strings may hold lone UTF-16 surrogates
(`"\\ud800"`), which no file name or UTF-8 output can carry; numpy raises `OverflowError` on
an integer beyond its dtype. The readers check every value here first, so that bad data is a
`PanopticInputError` naming the file and the value.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from typing import Any, TypeGuard

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


def is_text(value: Any) -> TypeGuard[str]:
    """True for a string that UTF-8 can encode (no lone surrogates)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _count(value: Any, where: str) -> None:
    integral = is_int(value) or (isinstance(value, float) and value.is_integer())
    if not integral or not 0 <= value <= INT64_MAX:
        raise ValueError(f"{where} is {show(value)}, not a count")


def _amount(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where} is {show(value)}, not a number")
    try:
        ok = 0 <= float(value) < float("inf")
    except OverflowError:
        ok = False
    if not ok:
        raise ValueError(f"{where} is {show(value)}, not a finite non-negative number")


def results_values(data: Any) -> None:
    """Check the values of a results JSON (`PanopticResults.to_json()`) that become numpy
    arrays: counts, finite non-negative sums, text names.

    Raises:
        ValueError, TypeError: naming the entry and the value.
    """
    per_class, per_image = data["per_class"], data["per_image"]
    if not isinstance(per_class, Mapping) or not isinstance(per_image, list):
        raise TypeError("per_class must be an object and per_image a list")
    for cid, entry in per_class.items():
        where = f"per_class {show(cid)}"
        if not isinstance(entry, Mapping):
            raise TypeError(f"{where} is not an object")
        if not is_text(entry["name"]) or entry["isthing"] not in (0, 1):
            raise ValueError(f"{where} has name {show(entry['name'])}, isthing {entry['isthing']}")
        for key in ("tp", "fp", "fn", "pq_dagger_n"):
            _count(entry[key], f"{where} {key}")
        for key in ("iou_sum", "pq_dagger_iou_sum"):
            _amount(entry[key], f"{where} {key}")
        if not isinstance(entry["iou_histogram"], list):
            raise TypeError(f"{where} iou_histogram is not a list")
        for value in entry["iou_histogram"]:
            _count(value, f"{where} iou_histogram")
    for k, row in enumerate(per_image):
        if not isinstance(row, Mapping) or not isinstance(row["classes"], Mapping):
            raise TypeError(f"per_image #{k} is not an object with a 'classes' object")
        for cid, sums in row["classes"].items():
            if not isinstance(sums, list):
                raise TypeError(f"per_image #{k} class {show(cid)} is not a list")
            for value in sums:
                _amount(value, f"per_image #{k} class {show(cid)}")
