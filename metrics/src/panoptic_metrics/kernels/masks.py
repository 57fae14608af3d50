"""Mask AP kernels: compressed COCO RLE strings, and every segment's RLE in one pass."""

from __future__ import annotations

import numpy as np

from ._cache import njit
from .panoptic import OK, UNKNOWN_GT_ID, _lookup


@njit(cache=True, nogil=True)
def rle_counts(chars: np.ndarray) -> tuple[np.ndarray, bool]:  # pragma: no cover - numba
    """Run lengths of a compressed COCO RLE string given as uint8 character codes.

    Foreign RLEs are decoded here before pycocotools' C code reads them: it trusts them and
    writes past its buffer when they lie. The format (pycocotools' maskApi.c, rleToString):
    each count in chunks of 5 bits, ASCII 48 + chunk, bit 0x20 = more chunks follow, bit 0x10
    of the last chunk = negative; from the fourth count on, the count is stored as the
    difference to the count two places before.

    Returns:
        ``(counts, ok)``: int64 run lengths, and False when the string is malformed (a
        character out of range, a truncated or overlong number, or a negative count).
    """
    counts = np.zeros(chars.shape[0], dtype=np.int64)
    m = 0
    p = 0
    n = chars.shape[0]
    while p < n:
        x = 0
        k = 0
        more = True
        while more:
            if p >= n or k >= 7:  # truncated, or more than 35 bits
                return counts[:m], False
            c = int(chars[p]) - 48
            if c < 0 or c > 63:
                return counts[:m], False
            x |= (c & 0x1F) << (5 * k)
            more = (c & 0x20) != 0
            p += 1
            k += 1
            if not more and (c & 0x10) != 0:
                x |= -1 << (5 * k)
        if m > 2:
            x += counts[m - 2]
        if x < 0:
            return counts[:m], False
        counts[m] = x
        m += 1
    return counts[:m], True


@njit(cache=True, nogil=True)
def _grow(
    runs: np.ndarray, owner: np.ndarray, m: int
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - numba
    """`runs` and `owner` with room for two more entries after the first `m`."""
    if m + 2 <= runs.shape[0]:
        return runs, owner
    bigger_runs = np.empty(2 * runs.shape[0], np.int64)
    bigger_owner = np.empty(2 * runs.shape[0], np.int64)
    for i in range(m):  # a loop, not a slice assignment: see the note in kernels/png.py
        bigger_runs[i] = runs[i]
        bigger_owner[i] = owner[i]
    return bigger_runs, bigger_owner


@njit(cache=True, nogil=True)
def segment_rles(
    ids: np.ndarray, keys: np.ndarray, rank: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int, int]:  # pragma: no cover - numba
    """The COCO run lengths of every segment's mask, in one pass over an (H, W) id map.

    COCO RLEs count alternating runs of 0 and 1 in column-major order, starting with 0
    (pycocotools' rleEncode). Walking the map once in that order, a run of equal ids of
    segment d either extends d's current run of ones or opens a gap of zeros and a new run
    of ones; a final run of zeros closes each segment. This replaces one pass (and one mask)
    per segment.

    Args:
        ids: (H, W) segment ids (int64 or uint32), 0 = void.
        keys, rank: the segments' sorted ids and their dense indices 1..n (as in
            `intersection_table`).

    Returns:
        ``(runs, owner, status, value)``: run lengths and the dense index owning each, in
        order per segment (a stable sort by owner gives each segment's counts); status OK, or
        UNKNOWN_GT_ID with the offending id in `value`. A segment without pixels owns no run.
    """
    h, w = ids.shape
    n = keys.shape[0]
    total = h * w
    end = np.zeros(n + 1, np.int64)  # position after the segment's last pixel so far
    last = np.full(n + 1, -1, np.int64)  # index in `runs` of its current run of ones
    runs = np.empty(256, np.int64)
    owner = np.empty(256, np.int64)
    m = 0
    d = 0
    start = 0
    prev = -1
    for p in range(total + 1):
        v = prev
        if p < total:
            v = ids[p % h, p // h]
            if v == prev:
                continue
        if d > 0:  # close the run [start, p) of segment d
            if last[d] >= 0 and end[d] == start:
                runs[last[d]] += p - start
            else:
                runs, owner = _grow(runs, owner, m)
                runs[m], owner[m] = start - end[d], d
                runs[m + 1], owner[m + 1] = p - start, d
                last[d] = m + 1
                m += 2
            end[d] = p
        if p < total:
            d = _lookup(v, keys, rank)
            if d < 0:
                return runs[:m], owner[:m], UNKNOWN_GT_ID, int(v)
            prev, start = v, p
    for d in range(1, n + 1):
        if last[d] >= 0 and end[d] < total:
            runs, owner = _grow(runs, owner, m)
            runs[m], owner[m] = total - end[d], d
            m += 1
    return runs[:m], owner[:m], OK, 0
