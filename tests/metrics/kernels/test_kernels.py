"""The numba kernels against their plain-numpy twins, on hypothesis-drawn maps and tables."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from panoptic_metrics import kernels, twins
from pycocotools import mask as mask_utils

SETTINGS = settings(max_examples=40, deadline=None, database=None)


@SETTINGS
@given(hnp.arrays(np.uint8, st.tuples(st.integers(0, 9), st.integers(0, 9), st.just(3))))
def test_rgb_to_ids_equals_numpy_twin(rgb: np.ndarray) -> None:
    out = np.empty(rgb.shape[:2], np.uint32)
    kernels.rgb_to_ids(rgb, out)
    assert np.array_equal(out, twins.rgb_to_ids(rgb))


def _lookup(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(ids, kind="stable")
    return ids[order].astype(np.int64), (order + 1).astype(np.int64)


@st.composite
def _maps(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two maps over small id pools (0 = void), with long runs, plus their segment lists."""
    n = draw(st.integers(0, 200))
    gt_pool = draw(st.lists(st.integers(1, (1 << 24) - 1), min_size=1, max_size=8, unique=True))
    pred_pool = draw(st.lists(st.integers(1, (1 << 24) - 1), min_size=1, max_size=8, unique=True))
    pick = st.lists(st.integers(0, 8), min_size=n, max_size=n)
    runs = draw(st.integers(1, 5))
    gt_idx = np.repeat(np.array(draw(pick), dtype=np.int64), runs)
    pred_idx = np.repeat(np.array(draw(pick), dtype=np.int64), runs)
    gt_vals = np.array([0, *gt_pool], dtype=np.int64)
    pred_vals = np.array([0, *pred_pool], dtype=np.int64)
    gt = gt_vals[np.minimum(gt_idx, len(gt_pool))]
    pred = pred_vals[np.minimum(pred_idx, len(pred_pool))]
    return gt, pred, np.array(gt_pool, np.int64), np.array(pred_pool, np.int64)


@SETTINGS
@given(_maps(), st.sampled_from([np.int64, np.uint32]), st.booleans())
def test_intersection_table_equals_numpy_twin(maps, dtype, drop_one: bool) -> None:  # type: ignore[no-untyped-def]
    gt, pred, gt_ids, pred_ids = maps
    if drop_one:  # an id in the map but not in the segment list: an error status
        gt_ids = gt_ids[1:]
    args = (gt.astype(dtype), pred.astype(dtype), *_lookup(gt_ids), *_lookup(pred_ids))
    table, status, value = kernels.intersection_table(*args)
    twin, twin_status, twin_value = twins.intersection_table(*args)
    assert (status, value) == (twin_status, twin_value)
    if status == kernels.OK:
        assert np.array_equal(table, twin)
        assert table.sum() == gt.size


def test_intersection_table_reports_unknown_pred_id() -> None:
    gt = np.array([0, 5, 5, 5], np.int64)
    pred = np.array([9, 9, 4, 4], np.int64)
    one = _lookup(np.array([5], np.int64))
    _, status, value = kernels.intersection_table(gt, pred, *one, *_lookup(np.array([9])))
    assert (status, value) == (kernels.UNKNOWN_PRED_ID, 4)


@st.composite
def _tables(draw: st.DrawFn):  # type: ignore[no-untyped-def]
    """A consistent (gt, pred) table with classes, crowd flags and gt areas."""
    n_gt, n_pred, n_classes = draw(st.integers(0, 6)), draw(st.integers(0, 6)), 3
    cells = st.integers(0, 30)
    table = np.array(
        draw(
            st.lists(cells, min_size=(n_gt + 1) * (n_pred + 1), max_size=(n_gt + 1) * (n_pred + 1))
        ),
        dtype=np.int64,
    ).reshape(n_gt + 1, n_pred + 1)
    table[1:, 0] += 1  # every segment has a pixel
    table[0, 1:] += 1
    classes = st.lists(st.integers(0, n_classes - 1), min_size=n_gt, max_size=n_gt)
    gt_class = np.array([-1, *draw(classes)], np.int64)
    pred_class = np.array(
        [-1, *draw(st.lists(st.integers(0, n_classes - 1), min_size=n_pred, max_size=n_pred))],
        np.int64,
    )
    crowd = np.array([False, *draw(st.lists(st.booleans(), min_size=n_gt, max_size=n_gt))])
    area = table.sum(axis=1)
    if draw(st.booleans()):  # strict mode with JSON areas that differ from the pixels
        area[1:] = np.maximum(
            1,
            area[1:]
            + np.array(draw(st.lists(st.integers(-5, 5), min_size=n_gt, max_size=n_gt)), np.int64),
        )
    is_stuff = np.array([True, False, True])
    return table, gt_class, crowd, area, pred_class, is_stuff


@SETTINGS
@given(_tables(), st.booleans(), st.sampled_from([2, 10, 20]))
def test_match_segments_equals_numpy_twin(tables, strict: bool, n_bins: int) -> None:  # type: ignore[no-untyped-def]
    ours = kernels.match_segments(*tables, strict, n_bins)
    twin = twins.match_segments(*tables, strict, n_bins)
    names = ("tp", "fp", "fn", "iou_sum", "dagger_n", "dagger_iou", "best_bin")
    names += ("match_iou", "match_exempt")
    for name, a, b in zip(names, ours, twin, strict=True):
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12, err_msg=name)
        else:
            assert np.array_equal(a, b), name


@pytest.mark.parametrize(
    ("inter", "union", "expected"),
    [(0, 7, 0), (1, 20, 0), (2, 20, 1), (10, 20, 9), (11, 20, 10), (20, 20, 19), (30, 20, 19)],
)
def test_iou_bins_are_right_closed_and_exact(inter: int, union: int, expected: int) -> None:
    """Bin k holds IoU in (k/20, (k+1)/20]: 0.5 falls in bin 9, just above it in bin 10."""
    # one gt and one pred segment of one stuff class; the pred also has a pixel on gt void,
    # so union = pred area + gt area - inter - void = gt area: set the gt area to `union`
    table = np.array([[0, 1], [0, inter]], np.int64)
    args = (np.array([-1, 0]), np.zeros(2, bool), np.array([0, union]), np.array([-1, 0]))
    result = kernels.match_segments(table, *args, np.ones(1, bool), True, 20)
    assert result[6][0] == expected
    twin = twins.match_segments(table, *args, np.ones(1, bool), True, 20)
    assert twin[6][0] == expected


# ---- mIoU: the confusion matrix ------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    num_classes=st.integers(1, 6),
    ignore_index=st.sampled_from([255, -1, 6]),  # 6 is never a class here: num_classes <= 6
)
def test_confusion_matrix_equals_numpy_twin(
    data: st.DataObject, num_classes: int, ignore_index: int
) -> None:
    values = st.sampled_from([*range(-1, num_classes + 2), ignore_index])
    n = data.draw(st.integers(0, 60))
    gt = data.draw(hnp.arrays(np.int64, n, elements=values))
    pred = data.draw(hnp.arrays(np.int64, n, elements=values))
    m1, bad1 = kernels.confusion_matrix(gt, pred, num_classes, ignore_index)
    m2, bad2 = twins.confusion_matrix(gt, pred, num_classes, ignore_index)
    assert bad1 == bad2
    np.testing.assert_array_equal(m1, m2)


def test_confusion_matrix_of_a_tiny_map_by_hand() -> None:
    # gt   0 0 1 255 1      pred 0 1 1 0 255
    # (0,0): 1  (0,1): 1  (1,1): 1  (1, ignore column): 1  the gt-ignore pixel is not counted
    gt = np.array([0, 0, 1, 255, 1], dtype=np.int64)
    pred = np.array([0, 1, 1, 0, 255], dtype=np.int64)
    matrix, bad = kernels.confusion_matrix(gt, pred, 2, 255)
    assert bad == -1
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 1]])


# ---- mask AP: compressed RLE strings --------------------------------------------------------


def test_rle_counts_decode_pycocotools_strings_like_the_python_twin() -> None:
    rng = np.random.default_rng(6)
    for _ in range(50):
        h, w = (int(x) for x in rng.integers(1, 300, size=2))
        counts = rng.integers(0, 5000, size=int(rng.integers(1, 40))).tolist()
        counts.append(max(0, h * w - sum(counts)))
        compressed = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)["counts"]
        decoded, ok = kernels.rle_counts(np.frombuffer(compressed, dtype=np.uint8))
        twin, twin_ok = twins.rle_counts(compressed)
        assert ok
        assert twin_ok
        assert decoded.tolist() == twin == counts  # pycocotools keeps the counts as given
        cut = compressed[: int(rng.integers(0, len(compressed)))]
        decoded, ok = kernels.rle_counts(np.frombuffer(cut, dtype=np.uint8))
        assert (decoded.tolist(), ok) == twins.rle_counts(cut)
    # a NUL, a truncated number ("o" and "P" announce more chunks), 8 chunks, a negative count
    for bad in (b"\x00", b"o", b"1P", b"0" * 3 + b"_" * 8, b"@"):
        assert not kernels.rle_counts(np.frombuffer(bad, dtype=np.uint8))[1]
        assert not twins.rle_counts(bad)[1]


def _by_segment(runs: np.ndarray, owner: np.ndarray) -> dict[int, list[int]]:
    order = np.argsort(owner, kind="stable")
    out: dict[int, list[int]] = {}
    for d, count in zip(owner[order].tolist(), runs[order].tolist(), strict=True):
        out.setdefault(d, []).append(count)
    return out


@SETTINGS
@given(_maps(), st.integers(1, 9), st.sampled_from([np.int64, np.uint32]), st.booleans())
def test_segment_rles_equal_numpy_twin_and_pycocotools(maps, h: int, dtype, drop_one: bool) -> None:  # type: ignore[no-untyped-def]
    gt, _, gt_ids, _ = maps
    ids = gt[: len(gt) // h * h].reshape(-1, h).T.astype(dtype)  # (h, w), C-contiguous copy
    ids = np.ascontiguousarray(ids)
    keys, rank = _lookup(gt_ids[1:] if drop_one else gt_ids)
    runs, owner, status, value = kernels.segment_rles(ids, keys, rank)
    twin_runs, twin_owner, twin_status, twin_value = twins.segment_rles(ids, keys, rank)
    assert (status, value) == (twin_status, twin_value)
    if status != kernels.OK:
        assert value in gt_ids.tolist()
        return
    ours = _by_segment(runs, owner)
    assert ours == _by_segment(twin_runs, twin_owner)
    for key, d in zip(keys.tolist(), rank.tolist(), strict=True):
        mask = np.asfortranarray((ids == key).astype(np.uint8))
        if not mask.any():
            assert d not in ours
            continue
        reference = mask_utils.encode(mask)
        h_, w_ = ids.shape
        mine = mask_utils.frPyObjects({"size": [h_, w_], "counts": ours[d]}, h_, w_)
        assert mine["counts"] == reference["counts"]


# `intersection_table` finds the changes in blocks of `_BLOCK` pixels, 8 flags to a word:
# changes on both sides of every block and word boundary, at the first and the last pixel.
_EDGES = [1, 2, 7, 8, 9, 1023, 1024, 1025, 2047, 2048, 2049, 3071, 3072]


@pytest.mark.parametrize("dtype", [np.int64, np.uint32])
@pytest.mark.parametrize("n", [3072, 3073, 3079])
def test_intersection_table_changes_at_block_and_word_edges(dtype, n: int) -> None:  # type: ignore[no-untyped-def]
    from panoptic_metrics.kernels.panoptic import _BLOCK

    assert _BLOCK == 1024  # the edges above are its multiples
    rng = np.random.default_rng(n)
    gt_ids, pred_ids = np.array([3, 70000, 12], np.int64), np.array([5, 9, 1 << 23], np.int64)
    cuts = [0, *[k for k in _EDGES if k < n], n - 1, n]
    gt = np.zeros(n, np.int64)
    pred = np.zeros(n, np.int64)
    for a, b in itertools.pairwise(cuts):  # a new id on each piece, or the same
        gt[a:b] = rng.choice([0, *gt_ids])
        pred[a:b] = rng.choice([0, *pred_ids])
    gt[-1], pred[-1] = gt_ids[2], pred_ids[2]  # a change at the last pixel, on both sides
    gt[n - 2], pred[n - 2] = gt_ids[0], pred_ids[1]
    args = (gt.astype(dtype), pred.astype(dtype), *_lookup(gt_ids), *_lookup(pred_ids))
    table, status, _ = kernels.intersection_table(*args)
    assert status == kernels.OK
    assert np.array_equal(table, twins.intersection_table(*args)[0])


def test_intersection_table_alternating_ids_and_unknown_ids_after_a_block() -> None:
    """A -> B -> A changes (the remembered ids) on one side while the other side changes
    elsewhere; an unknown id first seen in a later block, on each side and on both."""
    n = 2500
    k = np.arange(n)
    gt = np.where((k // 3) % 2 == 0, 40, 41).astype(np.int64)  # 40, 41, 40, ... every 3 pixels
    gt[k % 97 == 0] = 0
    pred = np.where((k // 5) % 3 == 0, 7, np.where((k // 5) % 3 == 1, 8, 7)).astype(np.int64)
    keys = (*_lookup(np.array([41, 40], np.int64)), *_lookup(np.array([8, 7], np.int64)))
    table, status, _ = kernels.intersection_table(gt, pred, *keys)
    assert status == kernels.OK
    assert np.array_equal(table, twins.intersection_table(gt, pred, *keys)[0])
    for side, first in (("gt", 1500), ("pred", 1500), ("both", 1030)):
        g, p = gt.copy(), pred.copy()
        if side in ("gt", "both"):
            g[first::211] = 99
        if side in ("pred", "both"):
            p[first::211] = 98
        result = kernels.intersection_table(g, p, *keys)[1:]
        assert result == twins.intersection_table(g, p, *keys)[1:]
        unknown = (kernels.UNKNOWN_PRED_ID, 98) if side == "pred" else (kernels.UNKNOWN_GT_ID, 99)
        assert result == unknown


@pytest.mark.parametrize("first", [-1, 0, 7])
def test_intersection_table_first_pixel_id_is_looked_up(first: int) -> None:
    """The first pixel has no previous id to reuse: whatever its value (-1 included, an
    int64 map's impossible id), it is looked up like any other."""
    gt = np.array([first, 7, 7, 0], np.int64)
    pred = np.array([first, 5, 5, 5], np.int64)
    keys = (*_lookup(np.array([7], np.int64)), *_lookup(np.array([5, 7], np.int64)))
    table, status, value = kernels.intersection_table(gt, pred, *keys)
    if first == -1:  # not among the keys (the twin's bincount refuses negative ids)
        assert (status, value) == (kernels.UNKNOWN_GT_ID, -1)
    else:
        assert (status, value) == (kernels.OK, 0)
        assert np.array_equal(table, twins.intersection_table(gt, pred, *keys)[0])
