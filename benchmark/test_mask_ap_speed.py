"""Speed of the mask AP ground truth from panoptic images, side by side with the usual way
(`nox -s bench`).

Workload: 4 panoptic ground-truth maps of 1024x2048 (the Cityscapes size): synthetic street
scenes of 256x512 scaled up 4x, as `reference_model.synthetic` exports them (segment ids =
Cityscapes instance ids). Ours: `instances_from_panoptic`, every segment's COCO RLE in one
column-major pass (`kernels.segment_rles`). Peer: what panoptic-to-COCO converters do (e.g.
panopticapi's converters, detectron2's dataset preparation): per thing segment a boolean mask
`ids == id` encoded by pycocotools' `mask.encode`. Each run checks that both give the same
RLE strings; the last benchmark prints the ratio.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from panoptic_metrics import CategorySet, PanopticImage, from_segments
from panoptic_metrics.panoptic_instances import instances_from_panoptic
from pycocotools import mask as mask_utils

from reference_model.synthetic import make_sample
from reference_model.synthetic.export import panoptic_segments

N_IMAGES = 4
MEDIANS: dict[str, float] = {}


@pytest.fixture(scope="module")
def images() -> tuple[list[PanopticImage], tuple[int, ...]]:
    from panoptic_metrics import cityscapes_categories

    categories: CategorySet = cityscapes_categories()
    out = []
    for i in range(N_IMAGES):
        sample = make_sample("val", i, seed=0, height=256, width=512)
        ids, segments = panoptic_segments(sample.instance_ids)
        big = np.repeat(np.repeat(ids, 4, axis=0), 4, axis=1).astype(np.uint32)
        out.append(from_segments(big, segments, image_id=i))
    return out, categories.thing_ids


def _ours(images: list[PanopticImage], things: tuple[int, ...]) -> list[list[bytes]]:
    return [[r["counts"] for r in instances_from_panoptic(i, things).rles] for i in images]


def _per_mask(images: list[PanopticImage], things: tuple[int, ...]) -> list[list[bytes]]:
    out = []
    for image in images:
        rles = []
        for sid, cid in zip(image.segments.ids, image.segments.category_ids, strict=True):
            if cid in things:
                mask = np.asfortranarray(image.ids == sid, dtype=np.uint8)
                rles.append(mask_utils.encode(mask)["counts"])
        out.append(rles)
    return out


def _run(benchmark: Any, name: str, fn: Any, data: Any) -> None:
    images, things = data
    rles = benchmark.pedantic(fn, args=(images, things), rounds=5, warmup_rounds=1)
    assert rles == _ours(images, things)
    assert sum(len(r) for r in rles) >= 5 * N_IMAGES  # several instances per image
    MEDIANS[name] = benchmark.stats.stats.median


@pytest.mark.benchmark(group="mask-ap-ground-truth")
def test_ours(benchmark: Any, images: Any) -> None:
    _run(benchmark, "ours", _ours, images)


@pytest.mark.benchmark(group="mask-ap-ground-truth")
def test_pycocotools_per_mask(
    benchmark: Any, images: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(benchmark, "pycocotools per mask", _per_mask, images)
    if "ours" in MEDIANS:
        with capsys.disabled():
            ratio = MEDIANS["pycocotools per mask"] / MEDIANS["ours"]
            print(f"\nmask AP ground truth, {N_IMAGES} images: pycocotools per mask / ours", end="")
            print(f" = {ratio:.1f}x")
