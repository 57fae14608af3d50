"""The Boundary PQ kernels against their numpy twins: `segment_bands` (one fused pass over the
image) against the Boundary IoU reference code's per-segment erosion (`twins.segment_bands`),
`boundary_table` and `match_boundary` against array algebra, on hypothesis-drawn maps with
thin, touching, border-touching segments and void."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from panoptic_metrics import kernels, twins
from panoptic_metrics.kernels import boundary as boundary_kernels

SETTINGS = settings(max_examples=60, deadline=None, database=None)


@st.composite
def _map(draw: st.DrawFn, max_side: int = 24) -> np.ndarray:
    """A map painted with rectangles of a few ids (0 = void): thin strips (1-2 pixels), boxes
    touching each other and the border, one-pixel segments."""
    h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    pool = draw(st.lists(st.integers(1, (1 << 24) - 1), min_size=1, max_size=6, unique=True))
    ids = np.full((h, w), draw(st.sampled_from([0, *pool])), dtype=np.uint32)
    for _ in range(draw(st.integers(0, 8))):
        y0, x0 = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
        y1, x1 = draw(st.integers(y0 + 1, h)), draw(st.integers(x0 + 1, w))
        ids[y0:y1, x0:x1] = draw(st.sampled_from([0, *pool]))
    return ids


@SETTINGS
@given(_map(), st.integers(1, 6))
def test_segment_bands_equal_the_reference_erosion_per_segment(ids: np.ndarray, d: int) -> None:
    assert np.array_equal(kernels.segment_bands(ids, d), twins.segment_bands(ids, d))


def test_segment_bands_of_a_square_by_hand() -> None:
    """A 5x5 square on void, d = 1: its outer ring (16 pixels) is the band, the 3x3 inside is
    not; a 2x7 strip on the top border is band everywhere (every pixel is within 1 of the
    border or of void); d = 2 makes the square's centre, at distance 3 from void, the only
    interior pixel."""
    ids = np.zeros((9, 9), np.uint32)
    ids[3:8, 2:7] = 5
    ids[0:2, 0:7] = 9
    band = kernels.segment_bands(ids, 1)
    square = band[3:8, 2:7]
    assert square.sum() == 16
    assert not square[1:4, 1:4].any()
    assert band[0:2, 0:7].all()
    assert not band[ids == 0].any()
    inside = ~kernels.segment_bands(ids, 2) & (ids == 5)
    assert np.argwhere(inside).tolist() == [[5, 4]]


@pytest.mark.parametrize(
    ("ratio", "h", "w", "expected"),
    [
        (0.02, 1024, 2048, 46),  # 0.02 * 2289.73 = 45.79
        (0.02, 48, 64, 2),  # 0.02 * 80 = 1.6
        (0.02, 5, 5, 1),  # 0.14 rounds to 0: at least 1
        (0.5, 3, 4, 2),  # 0.5 * 5 = 2.5: half to even, as Python's round(np.float64) is
        (0.7, 3, 4, 4),  # 3.5 -> 4
    ],
)
def test_dilation_pixels_is_the_reference_formula(
    ratio: float, h: int, w: int, expected: int
) -> None:
    assert kernels.dilation_pixels(ratio, h, w) == expected
    reference = max(1, round(ratio * np.sqrt(h**2 + w**2)))  # mask_to_boundary's lines
    assert reference == expected


def _lookup(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keys = np.unique(ids[ids != 0]).astype(np.int64)
    return keys, np.arange(1, len(keys) + 1, dtype=np.int64)


@st.composite
def _pair(draw: st.DrawFn):  # type: ignore[no-untyped-def]
    """Two maps of one size over disjoint id pools, their bands at a drawn d, dense lookups,
    classes (3), crowd flags and gt areas (possibly JSON areas that differ from the pixels)."""
    gt = draw(_map(max_side=16))
    h, w = gt.shape
    pred = gt.copy()
    for _ in range(draw(st.integers(0, 6))):
        y0, x0 = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
        y1, x1 = draw(st.integers(y0 + 1, h)), draw(st.integers(x0 + 1, w))
        pred[y0:y1, x0:x1] = draw(st.sampled_from([0, 1, 2, 3]))
    d = draw(st.integers(1, 3))
    gl, pl = _lookup(gt), _lookup(pred)
    n_gt, n_pred = len(gl[0]), len(pl[0])
    cls = st.integers(0, 2)
    gt_class = np.array([-1, *draw(st.lists(cls, min_size=n_gt, max_size=n_gt))], np.int64)
    pred_class = np.array([-1, *draw(st.lists(cls, min_size=n_pred, max_size=n_pred))], np.int64)
    crowd = np.array([False, *draw(st.lists(st.booleans(), min_size=n_gt, max_size=n_gt))])
    return gt, pred, d, gl, pl, gt_class, pred_class, crowd


@SETTINGS
@given(_pair(), st.booleans())
def test_boundary_table_and_matching_equal_numpy_twins(pair, strict: bool) -> None:  # type: ignore[no-untyped-def]
    gt, pred, d, gl, pl, gt_class, pred_class, crowd = pair
    table, status, _ = kernels.intersection_table(gt.reshape(-1), pred.reshape(-1), *gl, *pl)
    assert status == kernels.OK
    bands = (kernels.segment_bands(gt, d), kernels.segment_bands(pred, d))
    ours = kernels.boundary_table(gt, pred, d, *gl, *pl)
    twin = twins.boundary_table(gt, pred, d, *gl, *pl)
    for name, a, b in zip(("table", "gt_area", "pred_area"), ours, twin, strict=True):
        assert np.array_equal(a, b), name
    band_table, gt_band_area, pred_band_area = ours
    assert gt_band_area.sum() == bands[0].sum()
    assert pred_band_area.sum() == bands[1].sum()
    args = (table, band_table, gt_band_area, pred_band_area, gt_class, crowd)
    args += (table.sum(axis=1), pred_class, 3, strict)
    matched = kernels.match_boundary(*args)
    expected = twins.match_boundary(*args)
    for name, a, b in zip(("tp", "fp", "fn", "iou_sum"), matched, expected, strict=True):
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12, err_msg=name)
        else:
            assert np.array_equal(a, b), name
    # min(mask IoU, boundary IoU) <= mask IoU: never more matches than PQ's
    plain = kernels.match_segments(
        table, gt_class, crowd, table.sum(axis=1), pred_class, np.ones(3, bool), strict, 2
    )
    assert (matched[0] <= plain[0]).all()
    assert (matched[0] + matched[2] == plain[0] + plain[2]).all()  # TP + FN: the gt segments


@pytest.mark.parametrize("seed", range(4))
def test_wide_maps_with_long_runs_equal_the_twins(seed: int) -> None:
    """Rows of hundreds of pixels, so that the kernels' run scan skips 8 change flags at a
    time (`_next_change`), with runs that start and end at every offset within a word, and
    bands wider than some runs."""
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(20, 40)), int(rng.integers(200, 330))
    maps = []
    for _ in range(2):
        ids = np.full((h, w), 7, dtype=np.uint32)
        for _ in range(int(rng.integers(3, 12))):
            y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
            y1, x1 = y0 + int(rng.integers(1, h)), x0 + int(rng.integers(1, w // 2))
            ids[y0:y1, x0:x1] = rng.choice([0, 3, 5, 9, 11])
        maps.append(ids)
    gt, pred = maps
    gl, pl = _lookup(gt), _lookup(pred)
    for d in (1, 5, int(rng.integers(9, 25))):
        assert np.array_equal(kernels.segment_bands(gt, d), twins.segment_bands(gt, d))
        ours = kernels.boundary_table(gt, pred, d, *gl, *pl)
        twin = twins.boundary_table(gt, pred, d, *gl, *pl)
        for name, a, b in zip(("table", "gt_area", "pred_area"), ours, twin, strict=True):
            assert np.array_equal(a, b), (name, d)


@SETTINGS
@given(st.lists(st.integers(0, 90), max_size=40), st.integers(1, 100))
def test_next_change_finds_the_first_set_flag_after_a(sets: list[int], w: int) -> None:
    """`_next_change` (8 flags at a time, de Bruijn trailing zeros) against a plain scan, from
    every start a < w, with the sentinel at w."""
    ch = boundary_kernels._change_buffer(w)
    ch[: w + 1] = 0
    ch[w] = 1
    ch[[k for k in sets if k < w]] = 1
    words = ch.view(np.uint64)
    for a in range(w):
        expected = a + 1 + int(np.flatnonzero(ch[a + 1 :])[0])
        assert boundary_kernels._next_change(ch, words, a) == expected
