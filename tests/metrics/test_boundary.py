"""Boundary PQ (`boundary`, `--boundary`) against vernier, run here.

vernier's panoptic `Evaluator(parity_mode="strict", boundary=True)` is stated by its authors to
be bit-exact with the Boundary IoU reference code (Cheng et al. 2021); every expected number
comes from it or from a constructed case whose counts are derived next to it. Tolerance 1e-9
(float summation order). vernier 0.5.4 reads a map's buffer column by column, so it is given
the column-major buffers (`peers.vernier_panoptic(column_major=True)`); a test pins that bug.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from panoptic_metrics import (
    CategorySet,
    PanopticAccumulator,
    PanopticInputError,
    PanopticResults,
    evaluate_coco,
    from_segments,
)
from panoptic_metrics.cli import main

from tests.metrics.conftest import CocoSet
from tests.metrics.panoptic_data import (
    CATEGORIES,
    STUFF_IDS,
    THING_IDS,
    Annotated,
    finish,
    random_dataset,
    write_coco,
)
from tests.metrics.peers import vernier_panoptic, vernier_view

TOL = 1e-9


def _assert_equal_vernier(ours: PanopticResults, theirs: Any) -> None:
    """Boundary PQ, SQ, RQ overall, things, stuff and per class (with the counts) to 1e-9."""
    b = ours.boundary
    assert b is not None
    per_class = theirs.per_class()
    for c in b.per_class:
        if c.category.id not in per_class:  # vernier lists the classes of the data only
            assert (c.tp, c.fp, c.fn) == (0, 0, 0)
            continue
        other = per_class[c.category.id]
        assert (c.tp, c.fp, c.fn) == (other.n_tp, other.n_fp, other.n_fn), c.category
        assert c.iou_sum == pytest.approx(other.iou_sum, abs=TOL), c.category
        if c.tp + c.fp + c.fn == 0:  # vernier reports 0 for a class with nothing; we: undefined
            assert math.isnan(c.pq)
            continue
        for key in ("pq", "sq", "rq"):
            assert getattr(c, key) == pytest.approx(getattr(other, key), abs=TOL), key
    for scores, suffix, n in (
        (b.overall, "", theirs.n),
        (b.things, "_things", theirs.n_things),
        (b.stuff, "_stuff", theirs.n_stuff),
    ):
        for key in ("pq", "sq", "rq"):
            expected = getattr(theirs, key + suffix)
            assert getattr(scores, key) == pytest.approx(expected, abs=TOL), key + suffix
        assert scores.n == n


def _thin_pair(rng: np.random.Generator, image_id: int, h: int, w: int) -> tuple[Any, Any]:
    """Stuff bands, poles 1-3 pixels wide touching them and each other, a thin crowd strip,
    boxes of things side by side (touching), void holes; the prediction moves every segment
    by up to 2 pixels and thins or thickens the poles."""
    gt = np.zeros((h, w), np.int64)
    pred = np.zeros((h, w), np.int64)
    gmeta: dict[int, tuple[int, int]] = {}
    pmeta: dict[int, tuple[int, int]] = {}
    next_id = iter(range(1000 + 100 * image_id, 1100 + 100 * image_id))
    cut = int(rng.integers(h // 3, 2 * h // 3))
    for rows, cat in ((slice(0, cut), STUFF_IDS[2]), (slice(cut, h), STUFF_IDS[0])):
        g, p = next(next_id), next(next_id)
        gt[rows], pred[rows] = g, p
        gmeta[g], pmeta[p] = (cat, 0), (cat, 0)
    shift = int(rng.integers(-2, 3))
    pred[max(0, cut + shift) : cut] = p if shift < 0 else pred[max(0, cut + shift) : cut]
    x = int(rng.integers(2, 8))
    while x < w - 4:  # poles and things, touching
        width = int(rng.integers(1, 4))
        thing = rng.random() < 0.5
        cat = int(rng.choice(THING_IDS)) if thing else STUFF_IDS[1]
        top = int(rng.integers(0, cut))
        g, p = next(next_id), next(next_id)
        gt[top:, x : x + width] = g
        gmeta[g] = (cat, int(thing and rng.random() < 0.15))
        dx, dw = int(rng.integers(-1, 2)), int(rng.integers(-1, 2))
        pred[top + int(rng.integers(-2, 3)) % h :, x + dx : max(x + dx + 1, x + width + dw)] = p
        pmeta[p] = (cat, 0)
        x += width + int(rng.integers(0, 4))  # 0: the next one touches
    for _ in range(int(rng.integers(1, 3))):  # void holes
        y0, x0 = int(rng.integers(0, h - 4)), int(rng.integers(0, w - 4))
        (gt if rng.random() < 0.5 else pred)[y0 : y0 + 4, x0 : x0 + 6] = 0
    return finish(image_id, gt, gmeta), finish(image_id, pred, pmeta)


@pytest.fixture(scope="module")
def thin_set(tmp_path_factory: pytest.TempPathFactory) -> CocoSet:
    """16 images of poles, touching segments, thin crowd and void (40x72 and 64x64), plus the
    random set's crowd edge cases."""
    rng = np.random.default_rng(5)
    pairs = [_thin_pair(rng, k, *((40, 72) if k % 2 else (64, 64))) for k in range(16)]
    gts, preds = [p[0] for p in pairs], [p[1] for p in pairs]
    root = tmp_path_factory.mktemp("thin_set")
    gt_json, gt_folder = write_coco(root, "gt", gts, CATEGORIES)
    pred_json, pred_folder = write_coco(root, "pred", preds, None)
    return CocoSet(gt_json, gt_folder, pred_json, pred_folder)


def _evaluate(data: CocoSet, **kwargs: Any) -> PanopticResults:
    return evaluate_coco(*data.args(), workers=1, progress=False, boundary=True, **kwargs)


def test_random_maps_equal_vernier(random_set: CocoSet) -> None:
    """48x64 maps with crowd (two of one class), void, repeated stuff, empty images."""
    ours = _evaluate(random_set)
    _assert_equal_vernier(
        ours, vernier_panoptic(*random_set.args(), boundary=True, column_major=True)
    )
    assert ours.boundary is not None
    assert ours.boundary.pq < ours.pq  # the bands cost something here


@pytest.mark.parametrize("ratio", [0.005, 0.02, 0.05])
def test_thin_and_touching_segments_equal_vernier(thin_set: CocoSet, ratio: float) -> None:
    """d = 1, 2 and 4 pixels on 40x72 maps (1, 2 and 5 on 64x64)."""
    ours = _evaluate(thin_set, dilation_ratio=ratio)
    theirs = vernier_panoptic(
        *thin_set.args(), boundary=True, dilation_ratio=ratio, column_major=True
    )
    _assert_equal_vernier(ours, theirs)
    assert ours.boundary is not None
    assert sum(c.tp for c in ours.boundary.per_class) > 20


def test_realistic_scenes_equal_vernier(realistic_set: CocoSet) -> None:
    ours = _evaluate(realistic_set)
    _assert_equal_vernier(
        ours, vernier_panoptic(*realistic_set.args(), boundary=True, column_major=True)
    )


def test_vernier_reads_maps_column_by_column(random_set: CocoSet, tmp_path: Path) -> None:
    """vernier 0.5.4 given row-major non-square maps computes the Boundary PQ of the maps it
    reads column by column (`peers.vernier_view`), not of the maps: when this test fails,
    vernier has changed, and `column_major=True` in the oracle above should go."""
    as_given = vernier_panoptic(*random_set.args(), boundary=True)
    ours = _evaluate(random_set)
    assert ours.boundary is not None
    assert abs(as_given.pq - ours.boundary.pq) > 0.01  # wrong on the real maps
    gts = _load(random_set.gt_json, random_set.gt_folder)
    preds = _load(random_set.pred_json, random_set.pred_folder)
    for images in (gts, preds):
        for image in images:
            image.ids = vernier_view(image.ids)
    gt_json, gt_folder = write_coco(tmp_path, "gt", gts, CATEGORIES)
    pred_json, pred_folder = write_coco(tmp_path, "pred", preds, None)
    seen = evaluate_coco(
        gt_json, gt_folder, pred_json, pred_folder, workers=1, progress=False, boundary=True
    )
    _assert_equal_vernier(seen, as_given)  # right on the maps it reads


def _load(json_path: Path, folder: Path) -> list[Annotated]:
    from tests.metrics.panoptic_data import load_coco_annotated

    return load_coco_annotated(json_path, folder)


def _one_class() -> CategorySet:
    return CategorySet.from_coco([{"id": 1, "name": "box", "isthing": 1}])


@pytest.mark.filterwarnings("ignore:PQ of stuff")
def test_a_shifted_square_matches_in_pq_but_not_in_boundary_pq() -> None:
    """A 20x20 gt square on void and its prediction moved 2 columns right on a 40x40 image:
    d = round(0.02 * 56.57) = 1, so each band is the square's outer ring, 400 - 18 * 18 = 76
    pixels. The prediction has 2 * 20 pixels on void, its ring 2 + 2 + 18 = 22 (rows 10 and
    29, column 31). Mask IoU = 360 / (400 + 400 - 360 - 40) = 0.9: PQ's TP. The rings share
    rows 10 and 29 over columns 12..29 only: 36 pixels, boundary IoU = 36 / (76 + 76 - 36 -
    22) = 0.38 <= 0.5: Boundary PQ has one FN and one FP, and is 0."""
    gt = np.zeros((40, 40), np.int64)
    pred = np.zeros((40, 40), np.int64)
    gt[10:30, 10:30] = 5
    pred[10:30, 12:32] = 9
    gt_image = from_segments(gt, [{"id": 5, "category_id": 1}])
    acc = PanopticAccumulator(_one_class(), boundary=True)
    acc.update(gt_image, from_segments(pred, [{"id": 9, "category_id": 1}]))
    results = acc.compute()
    assert results.pq == pytest.approx(0.9, abs=TOL)
    assert results.boundary is not None
    (c,) = results.boundary.per_class
    assert (c.tp, c.fp, c.fn) == (0, 1, 1)
    assert results.boundary.pq == 0.0
    # moved by 1 column, 20 pixels on void (column 30, all of them ring): mask IoU 380 / 400;
    # the rings share rows 10 and 29 over columns 11..29 (19 each), their columns (10, 29 and
    # 11, 30) nothing: 38 / (76 + 76 - 38 - 20) = 0.40, still no match; by 0 columns: 1
    for shift, matched in ((1, False), (0, True)):
        pred[:] = 0
        pred[10:30, 10 + shift : 30 + shift] = 9
        acc.reset()
        acc.update(gt_image, from_segments(pred, [{"id": 9, "category_id": 1}]))
        boundary = acc.compute().boundary
        assert boundary is not None
        assert boundary.per_class[0].tp == int(matched)
        assert boundary.pq == float(matched)


def test_boundary_pq_of_equal_maps_and_of_bands_that_cover_everything() -> None:
    """Equal maps: every pair's boundary IoU is 1, so Boundary PQ = PQ (below 1 only where
    crowd regions are predicted) and Boundary SQ = 1. With a ratio so large that every pixel
    is band, boundary IoU = mask IoU (void subtracted alike), so Boundary PQ = PQ."""
    gts, preds = random_dataset(seed=3, n=6)
    categories = CategorySet.from_coco(CATEGORIES)
    same = PanopticAccumulator(categories, boundary=True)
    wide = PanopticAccumulator(categories, boundary=True, dilation_ratio=1.0)
    for g, p in zip(gts, preds, strict=True):
        gi = from_segments(g.ids, g.segments)
        same.update(gi, from_segments(g.ids, g.segments))
        wide.update(gi, from_segments(p.ids, p.segments))
    equal = same.compute()
    assert equal.boundary is not None
    assert equal.boundary.pq == equal.pq
    assert equal.boundary.sq == 1.0
    results = wide.compute()
    assert results.boundary is not None
    for c, plain in zip(results.boundary.per_class, results.per_class, strict=True):
        assert (c.tp, c.fp, c.fn) == (plain.tp, plain.fp, plain.fn)
        assert c.iou_sum == pytest.approx(plain.iou_sum, abs=TOL)


def test_workers_and_merge_give_the_same_boundary_pq(random_set: CocoSet) -> None:
    one = _evaluate(random_set)
    two = evaluate_coco(*random_set.args(), workers=2, progress=False, boundary=True)
    assert one.boundary == two.boundary
    gts, preds = random_dataset(seed=0, n=24)
    categories = CategorySet.from_coco(CATEGORIES)
    shards = [PanopticAccumulator(categories, boundary=True) for _ in range(2)]
    whole = PanopticAccumulator(categories, boundary=True)
    for k, (g, p) in enumerate(zip(gts, preds, strict=True)):
        pair = (from_segments(g.ids, g.segments), from_segments(p.ids, p.segments))
        shards[k % 2].update(*pair)
        whole.update(*pair)
    merged = shards[0].merge(shards[1]).compute().boundary
    assert merged is not None
    expected = whole.compute().boundary
    assert expected is not None
    for a, b in zip(merged.per_class, expected.per_class, strict=True):
        assert (a.tp, a.fp, a.fn) == (b.tp, b.fp, b.fn)
        assert a.iou_sum == pytest.approx(b.iou_sum, abs=TOL)
    with pytest.raises(ValueError, match="dilation ratio"):
        PanopticAccumulator(categories).merge(PanopticAccumulator(categories, boundary=True))


@pytest.mark.parametrize("bad", [0.0, -0.1, math.nan, math.inf])
def test_bad_dilation_ratios_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="dilation ratio"):
        PanopticAccumulator(_one_class(), boundary=True, dilation_ratio=bad)


def test_json_round_trip_and_files_without_boundary(random_set: CocoSet) -> None:
    ours = _evaluate(random_set, dilation_ratio=0.03)
    data = json.loads(json.dumps(ours.to_json()))
    block = data["boundary"]
    assert block["dilation_ratio"] == 0.03
    assert block["boundary_pq"] == ours.boundary.pq  # type: ignore[union-attr]
    assert set(block) == {
        "dilation_ratio", "boundary_pq", "boundary_sq", "boundary_rq", "n", "things", "stuff",
        "per_class",
    }  # fmt: skip
    back = PanopticResults.from_json(data)
    assert back.boundary == ours.boundary
    del data["boundary"]
    assert PanopticResults.from_json(data).boundary is None
    assert "boundary" not in evaluate_coco(*random_set.args(), workers=1, progress=False).to_json()


def test_malformed_boundary_names_the_file(random_set: CocoSet) -> None:
    data = _evaluate(random_set).to_json()
    data["boundary"]["per_class"]["3"]["tp"] = -1
    with pytest.raises(PanopticInputError, match=r"mine\.json"):
        PanopticResults.from_json(data, source="mine.json")
    data = _evaluate(random_set).to_json()
    data["boundary"]["dilation_ratio"] = 0
    with pytest.raises(PanopticInputError, match=r"mine\.json"):
        PanopticResults.from_json(data, source="mine.json")


def test_cli_boundary_prints_and_writes_it(
    random_set: CocoSet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gt_json, gt_folder, pred_json, pred_folder = random_set.args()
    args = ["evaluate", "--gt-json", str(gt_json), "--gt-folder", str(gt_folder)]
    args += ["--pred-json", str(pred_json), "--pred-folder", str(pred_folder)]
    args += ["--workers", "1", "--no-progress"]
    out = tmp_path / "r.json"
    assert main([*args, "--boundary", "--dilation-ratio", "0.03", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "B-PQ" in printed
    assert "dilation ratio: 0.03" in printed
    written = json.loads(out.read_text())["boundary"]
    expected = _evaluate(random_set, dilation_ratio=0.03).boundary
    assert expected is not None
    assert written["boundary_pq"] == expected.pq
    assert main([*args, "--boundary", "--output", str(out)]) == 0
    assert json.loads(out.read_text())["boundary"]["dilation_ratio"] == 0.02


@pytest.mark.parametrize(
    "extra", [["--dilation-ratio", "0.03"], ["--boundary", "--dilation-ratio", "0"]]
)
def test_cli_dilation_ratio_without_boundary_or_bad_is_a_usage_error(
    random_set: CocoSet, extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    gt_json, gt_folder, pred_json, pred_folder = random_set.args()
    args = ["evaluate", "--gt-json", str(gt_json), "--gt-folder", str(gt_folder)]
    args += ["--pred-json", str(pred_json), "--pred-folder", str(pred_folder)]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, *extra])
    assert exit_info.value.code == 2
    assert "--dilation-ratio" in capsys.readouterr().err
