"""all_reduce_accumulator over two gloo processes on the CPU equals one process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from panoptic_metrics import CategorySet, PanopticAccumulator, RunAccumulator, from_segments

from tests.metrics.panoptic_data import CATEGORIES, random_dataset

pytestmark = [pytest.mark.needs_torch, pytest.mark.slow]


def _single_process() -> dict[str, object]:
    gts, preds = random_dataset(seed=4, n=10)
    acc = PanopticAccumulator(CategorySet.from_coco(CATEGORIES))
    for gt, pred in zip(gts, preds, strict=True):
        acc.update(
            from_segments(gt.ids, gt.segments, image_id=gt.image_id),
            from_segments(pred.ids, pred.segments, image_id=pred.image_id),
        )
    return acc.compute().to_json()


def test_two_gloo_ranks_equal_one_process(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    from tests.metrics.distributed_worker import run

    # fork: the ranks inherit the imported torch (spawn would import it twice more)
    mp.start_processes(run, args=(2, str(tmp_path)), nprocs=2, join=True, start_method="fork")
    expected = _single_process()
    for rank in (0, 1):
        out = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert out["local_images"] == 7  # 14 images, every other one on each rank
        got = out["results"]
        # images come back in rank order (0, 2, 4, ... then 1, 3, ...): compare by id
        by_id = {row["image_id"]: row for row in got["per_image"]}
        assert by_id == {row["image_id"]: row for row in expected["per_image"]}
        for cid, entry in expected["per_class"].items():  # type: ignore[union-attr]
            for key, value in entry.items():
                if isinstance(value, float):
                    assert got["per_class"][cid][key] == pytest.approx(value, abs=1e-12)
                else:
                    assert got["per_class"][cid][key] == value
        assert got["pq"] == pytest.approx(expected["pq"], abs=1e-12)
        assert got["pq_dagger"] == pytest.approx(expected["pq_dagger"], abs=1e-12)
        errors, expected_errors = got["errors"], expected["errors"]  # type: ignore[index]
        assert errors["counts"] == expected_errors["counts"]
        for cid, entry in expected_errors["per_class"].items():
            assert errors["per_class"][cid]["counts"] == entry["counts"]


def test_two_gloo_ranks_equal_one_process_for_pq_miou_and_mask_ap(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    from tests.metrics.distributed_worker import run_all, update_run

    mp.start_processes(run_all, args=(2, str(tmp_path)), nprocs=2, join=True, start_method="fork")
    single = RunAccumulator(CategorySet.from_coco(CATEGORIES), miou=True, mask_ap=True)
    # the order in which the ranks gather their images: rank 0's, then rank 1's
    update_run(single, [*range(0, 14, 2), *range(1, 14, 2)], seed=4)
    expected = single.compute()
    for rank in (0, 1):
        got = json.loads((tmp_path / f"run{rank}.json").read_text())
        assert got["per_image"] == expected.to_json()["per_image"]
        assert got["mask_ap"] == expected.to_json()["mask_ap"]  # the same images, same order
        assert expected.miou is not None
        assert got["miou"] == expected.miou.miou  # integer confusion matrices: exact
        assert got["pq"] == pytest.approx(expected.panoptic.pq, abs=1e-12)


def test_refuses_without_an_initialised_process_group() -> None:
    from panoptic_metrics.distributed import all_reduce_accumulator

    with pytest.raises(RuntimeError, match="not initialised"):
        all_reduce_accumulator(PanopticAccumulator(CategorySet.from_coco(CATEGORIES)))
