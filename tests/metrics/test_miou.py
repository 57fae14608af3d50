"""mIoU: the numba kernel against its numpy twin, the accumulator against cityscapesscripts'
evalPixelLevelSemanticLabeling and torchmetrics, properties, and bad input."""

from __future__ import annotations

import copy
import doctest
import json
import math
from pathlib import Path

import numpy as np
import pytest
from panoptic_metrics import PanopticInputError, kernels, twins
from panoptic_metrics import miou as miou_module
from panoptic_metrics.miou import MiouAccumulator
from PIL import Image

C = 19  # the Cityscapes evaluation classes (train ids 0..18)
IGNORE = 255


def _cityscapes_tables() -> tuple[np.ndarray, list[int]]:
    """Label id -> train id lookup (ignored ids -> 255) and the label id of each train id."""
    from cityscapesscripts.helpers.labels import labels

    lut = np.full(256, IGNORE, dtype=np.int64)
    label_of_train = [0] * C
    for label in labels:
        if label.id < 0:
            continue
        if not label.ignoreInEval:
            lut[label.id] = label.trainId
            label_of_train[label.trainId] = label.id
    return lut, label_of_train


def _perturb(label_ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A plausible prediction in Cityscapes label-id space: shifted, with wrong blocks (some of
    them ignored label ids such as 0 'unlabeled' and 4 'static') and salt noise."""
    pred = np.roll(
        label_ids, shift=(int(rng.integers(-3, 4)), int(rng.integers(-3, 4))), axis=(0, 1)
    )
    h, w = pred.shape
    for _ in range(6):
        y, x = int(rng.integers(0, h - 8)), int(rng.integers(0, w - 8))
        pred[y : y + int(rng.integers(4, 16)), x : x + int(rng.integers(4, 24))] = rng.choice(
            [0, 4, 7, 8, 11, 21, 23, 24, 26, 33]
        )
    noise = rng.random(pred.shape) < 0.02
    pred[noise] = rng.integers(0, 34, size=int(noise.sum()))
    return pred.astype(np.uint8)


def _val_label_maps(root: Path) -> list[Path]:
    return sorted((root / "gtFine" / "val").rglob("*_gtFine_labelIds.png"))


def test_confusion_kernel_equals_its_twin_on_synthetic_maps(synthetic_root: Path) -> None:
    lut, _ = _cityscapes_tables()
    rng = np.random.default_rng(0)
    for path in _val_label_maps(synthetic_root)[:6]:
        label_ids = np.asarray(Image.open(path))
        gt = lut[label_ids].ravel()
        pred = lut[_perturb(label_ids, rng)].ravel()
        m1, bad1 = kernels.confusion_matrix(gt, pred, C, IGNORE)
        m2, bad2 = twins.confusion_matrix(gt, pred, C, IGNORE)
        assert bad1 == bad2 == -1
        np.testing.assert_array_equal(m1, m2)
        assert m1.sum() == np.count_nonzero(gt != IGNORE)


def test_module_doctest_passes() -> None:
    assert doctest.testmod(miou_module).failed == 0


# ---- agreement with the references ------------------------------------------------------


def _evaluate_with_cityscapesscripts(pairs: list[tuple[Path, Path]]) -> dict[str, float]:
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as cs

    args = copy.copy(cs.args)
    args.quiet, args.JSONOutput, args.evalInstLevelScore = True, False, False
    args.evalPixelAccuracy = False
    result = cs.evaluateImgLists([str(p) for p, _ in pairs], [str(g) for _, g in pairs], args)
    scores = dict(result["classScores"])
    scores["__mean__"] = cs.getScoreAverage(result["classScores"], args)
    return scores


def test_agrees_with_cityscapesscripts_pixel_level_evaluation(
    synthetic_root: Path, tmp_path: Path
) -> None:
    """cityscapesscripts evaluates label-id PNGs; we evaluate the same maps as train ids."""
    from cityscapesscripts.helpers.labels import trainId2label

    lut, _ = _cityscapes_tables()
    rng = np.random.default_rng(1)
    acc = MiouAccumulator(C)
    pairs = []
    for path in _val_label_maps(synthetic_root):
        label_ids = np.asarray(Image.open(path))
        pred_ids = _perturb(label_ids, rng)
        pred_path = tmp_path / path.name.replace("gtFine_labelIds", "pred")
        Image.fromarray(pred_ids).save(pred_path)
        pairs.append((pred_path, path))
        acc.update(lut[label_ids], lut[pred_ids])
    reference = _evaluate_with_cityscapesscripts(pairs)
    result = acc.compute()
    assert acc.n_images == len(pairs) == 19
    for train_id, iou in enumerate(result.per_class_iou):
        expected = reference[trainId2label[train_id].name]
        assert not math.isnan(expected)
        assert iou == pytest.approx(expected, rel=0, abs=1e-12)
    assert result.miou == pytest.approx(reference["__mean__"], rel=0, abs=1e-12)
    assert 0.3 < result.miou < 0.99  # the perturbation is neither trivial nor destructive


def test_absent_class_is_nan_and_left_out_of_the_mean_as_in_cityscapesscripts(
    tmp_path: Path,
) -> None:
    # gt: road (7) and sky (23); prediction: road, sky and car (26) on one labelled pixel.
    gt_ids = np.full((4, 8), 7, dtype=np.uint8)
    gt_ids[:2] = 23
    gt_ids[0, 0] = 0  # unlabeled: not counted, whatever is predicted there
    pred_ids = gt_ids.copy()
    pred_ids[3, 7] = 26
    pred_ids[0, 0] = 24
    Image.fromarray(gt_ids).save(tmp_path / "a_gtFine_labelIds.png")
    Image.fromarray(pred_ids).save(tmp_path / "a_pred.png")
    reference = _evaluate_with_cityscapesscripts(
        [(tmp_path / "a_pred.png", tmp_path / "a_gtFine_labelIds.png")]
    )
    lut, _ = _cityscapes_tables()
    acc = MiouAccumulator(C)
    acc.update(lut[gt_ids], lut[pred_ids])
    result = acc.compute()
    # By hand: road 15/16, sky 15/15, car 0/1 (one FP); the other 16 classes are NaN.
    assert result.per_class_iou[0] == reference["road"] == 15 / 16
    assert result.per_class_iou[10] == reference["sky"] == 1.0
    assert result.per_class_iou[13] == reference["car"] == 0.0
    assert sum(math.isnan(x) for x in result.per_class_iou) == 16
    assert result.miou == pytest.approx(reference["__mean__"], abs=1e-15)
    assert result.miou == pytest.approx((15 / 16 + 1 + 0) / 3, abs=1e-15)


def _random_pairs(seed: int, n: int, shape: tuple[int, int] = (24, 40)) -> list[tuple]:
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n):
        gt = rng.integers(0, 6, size=shape)
        gt = np.repeat(gt[:, ::4], 4, axis=1)  # runs, as in real maps
        gt[rng.random(shape) < 0.1] = IGNORE
        pred = np.where(rng.random(shape) < 0.7, gt, rng.integers(0, 6, size=shape))
        pred[pred == IGNORE] = 0
        pairs.append((gt, pred))
    return pairs


@pytest.mark.needs_torch
def test_agrees_with_torchmetrics_jaccard_index() -> None:
    """torchmetrics' JaccardIndex pools a confusion matrix too and drops classes absent from
    both sides from its macro mean: the same convention as ours when no pixel is predicted as
    the ignore label (torchmetrics has no such prediction; we test that case below)."""
    import torch
    from torchmetrics.classification import MulticlassJaccardIndex

    pairs = _random_pairs(2, 8)
    per_class = MulticlassJaccardIndex(num_classes=7, ignore_index=IGNORE, average="none")
    macro = MulticlassJaccardIndex(num_classes=7, ignore_index=IGNORE, average="macro")
    acc = MiouAccumulator(7)  # class 6 never appears: NaN for us, left out of the macro mean
    for gt, pred in pairs:
        per_class.update(torch.from_numpy(pred), torch.from_numpy(gt))
        macro.update(torch.from_numpy(pred), torch.from_numpy(gt))
        acc.update(gt, pred)
    result = acc.compute()
    np.testing.assert_allclose(
        result.per_class_iou[:6], per_class.compute()[:6].double(), atol=1e-6
    )
    assert math.isnan(result.per_class_iou[6])
    assert result.miou == pytest.approx(float(macro.compute()), abs=1e-6)  # float32 there


@pytest.mark.needs_torch
def test_predicted_ignore_counts_as_a_false_negative_like_an_extra_torchmetrics_class() -> None:
    """A pixel predicted as the ignore label is a false negative of its gt class and a false
    positive of none: exactly what torchmetrics computes for the real classes when the
    predicted ignore label is renamed to an extra class C that is then dropped."""
    import torch
    from torchmetrics.classification import MulticlassJaccardIndex

    reference = MulticlassJaccardIndex(num_classes=7, ignore_index=IGNORE, average="none")
    acc = MiouAccumulator(6)
    rng = np.random.default_rng(3)
    for gt, pred in _random_pairs(4, 6):
        pred = pred.copy()
        pred[rng.random(pred.shape) < 0.15] = IGNORE
        acc.update(gt, pred)
        renamed = np.where(pred == IGNORE, 6, pred)
        reference.update(torch.from_numpy(renamed), torch.from_numpy(gt))
    expected = reference.compute()[:6].double()
    np.testing.assert_allclose(acc.compute().per_class_iou, expected, atol=1e-6)


@pytest.mark.needs_torch
def test_torchmetrics_mean_iou_averages_per_image_where_we_pool() -> None:
    """torchmetrics.segmentation.MeanIoU averages each class's IoU over the images where the
    class appears, Cityscapes (and we) pool pixels over the dataset: they agree on one image,
    and over several images torchmetrics gives the mean of our per-image IoUs."""
    import torch
    from torchmetrics.segmentation import MeanIoU

    pairs = [(np.clip(gt, 0, 5), pred) for gt, pred in _random_pairs(5, 3)]  # no ignore there
    per_image = []
    for gt, pred in pairs:
        acc = MiouAccumulator(6)
        acc.update(gt, pred)
        per_image.append(acc.compute().per_class_iou)
        reference = MeanIoU(num_classes=6, per_class=True, input_format="index")
        reference.update(torch.from_numpy(pred)[None], torch.from_numpy(gt)[None])
        np.testing.assert_allclose(per_image[-1], reference.compute().double(), atol=1e-6)
    reference = MeanIoU(num_classes=6, per_class=True, input_format="index")
    pooled = MiouAccumulator(6)
    for gt, pred in pairs:
        reference.update(torch.from_numpy(pred)[None], torch.from_numpy(gt)[None])
        pooled.update(gt, pred)
    np.testing.assert_allclose(np.mean(per_image, axis=0), reference.compute().double(), atol=1e-6)
    assert not np.allclose(pooled.compute().per_class_iou, reference.compute().double(), atol=1e-4)


# ---- properties ---------------------------------------------------------------------------


def test_perfect_prediction_gives_one_and_disjoint_gives_zero() -> None:
    for gt, _ in _random_pairs(6, 3):
        perfect = MiouAccumulator(6)
        perfect.update(gt, np.where(gt == IGNORE, 3, gt))  # anything on ignored pixels
        assert perfect.compute().miou == 1.0
        assert all(x == 1.0 for x in perfect.compute().per_class_iou if not math.isnan(x))
        disjoint = MiouAccumulator(6)
        disjoint.update(gt, np.where(gt == IGNORE, 0, (gt + 1) % 6))
        assert disjoint.compute().miou == 0.0


def test_merge_of_halves_equals_the_whole_and_update_order_does_not_matter() -> None:
    pairs = _random_pairs(7, 10)
    # 7 classes, class 6 absent: its NaN must not make equal results unequal
    whole, first, second = MiouAccumulator(7), MiouAccumulator(7), MiouAccumulator(7)
    for i, (gt, pred) in enumerate(pairs):
        whole.update(gt, pred)
        (first if i % 2 else second).update(gt, pred)
    assert first.merge(second) is first
    assert first.compute() == whole.compute()
    np.testing.assert_array_equal(first.confusion, whole.confusion)
    assert math.isnan(whole.compute().per_class_iou[6])
    batched = MiouAccumulator(7)
    batched.update(np.stack([g for g, _ in pairs[::-1]]), np.stack([p for _, p in pairs[::-1]]))
    assert batched.compute() == whole.compute()
    assert batched.n_images == whole.n_images == 10


def test_compute_is_pure_and_reset_empties_the_state() -> None:
    acc = MiouAccumulator(6)
    for gt, pred in _random_pairs(8, 2):
        acc.update(gt, pred)
    before = acc.confusion
    assert acc.compute() == acc.compute()
    np.testing.assert_array_equal(acc.confusion, before)
    acc.reset()
    assert acc.n_images == 0
    assert not acc.confusion.any()


def test_integer_dtypes_and_array_likes_give_the_same_result() -> None:
    gt, pred = _random_pairs(9, 1)[0]
    reference = MiouAccumulator(6)
    reference.update(gt, pred)

    class ArrayLike:
        def __init__(self, a: np.ndarray) -> None:
            self.a = a

        def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
            return self.a

    for dtype in (np.uint8, np.int16, np.uint16, np.int32, np.uint32):
        acc = MiouAccumulator(6)
        acc.update(gt.astype(dtype), ArrayLike(pred.astype(dtype)))
        assert acc.compute() == reference.compute()
    strided = MiouAccumulator(6)
    strided.update(np.asfortranarray(gt), pred.copy())  # layout must not matter
    assert strided.compute() == reference.compute()


@pytest.mark.needs_torch
def test_torch_tensors_are_accepted() -> None:
    import torch

    gt, pred = _random_pairs(10, 1)[0]
    reference, acc = MiouAccumulator(6), MiouAccumulator(6)
    reference.update(gt, pred)
    acc.update(torch.from_numpy(gt), torch.from_numpy(pred).to(torch.uint8))
    assert acc.compute() == reference.compute()


def test_results_to_json_keys_by_category_id_with_null_for_nan() -> None:
    acc = MiouAccumulator(3, category_ids=[7, 23, 26])
    acc.update(np.array([[0, 0, 1]]), np.array([[0, 1, 1]]))
    data = json.loads(json.dumps(acc.compute().to_json(), allow_nan=False))
    assert data["per_class_iou"] == {"7": 0.5, "23": 0.5, "26": None}
    assert data["per_class"]["7"] == {"iou": 0.5, "tp": 1, "fp": 0, "fn": 1}
    assert data["miou"] == 0.5
    assert (data["n_images"], data["n_pixels"], data["ignore_index"]) == (1, 3, 255)


def test_nothing_to_average_gives_nan_with_a_warning() -> None:
    acc = MiouAccumulator(4)
    with pytest.warns(RuntimeWarning, match="mIoU is NaN"):
        assert math.isnan(acc.compute().miou)
    acc.update(np.full((3, 3), IGNORE), np.zeros((3, 3), dtype=np.int64))
    with pytest.warns(RuntimeWarning, match="mIoU is NaN"):
        result = acc.compute()
    assert math.isnan(result.miou)
    assert result.n_pixels == 0


# ---- bad input ----------------------------------------------------------------------------


def test_bad_input_gets_a_clear_error_and_leaves_the_state_unchanged() -> None:
    acc = MiouAccumulator(4)
    good = np.array([[0, 1], [2, 3]])
    acc.update(good, good)
    before = acc.compute()
    cases = [
        ((good, good[:1]), r"pred: has shape \(1, 2\) but gt has shape \(2, 2\)"),
        ((good.ravel(), good.ravel()), r"gt: .*\(H, W\) or batches \(N, H, W\)"),
        ((good, good.astype(np.float32)), "pred: expected integer labels, got dtype"),
        ((good > 0, good), "gt: expected integer labels, got dtype bool"),
        (("01", good), "gt: expected an array, got str"),
        (([[0, 1], [0]], good), "gt: not a rectangular array"),
        ((np.array([[0, 4], [0, 0]]), good), r"gt: label 4 at index \(0, 1\)"),
        ((good, np.array([[0, 0], [-1, 0]])), r"pred: label -1 at index \(1, 0\)"),
        ((np.full((2, 2), 255), np.full((2, 2), 9)), "pred: label 9 at index"),
    ]
    for (gt, pred), message in cases:
        with pytest.raises(PanopticInputError, match=message):
            acc.update(gt, pred)
    assert acc.compute() == before


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        MiouAccumulator(0)
    with pytest.raises(ValueError, match="ignore_index 3 is a class index"):
        MiouAccumulator(4, ignore_index=3)
    with pytest.raises(ValueError, match="category_ids must hold 2 distinct ids"):
        MiouAccumulator(2, category_ids=[7, 7])
    with pytest.raises(ValueError, match="cannot merge accumulators"):
        MiouAccumulator(2).merge(MiouAccumulator(3))
    with pytest.raises(TypeError, match="can only merge a MiouAccumulator"):
        MiouAccumulator(2).merge(object())  # type: ignore[arg-type]
