"""The per-image states kept as flat arrays (`image_states.ImageStates`) and the streamed
results JSON: both must give back exactly what the per-image objects and the whole-file
`json.dumps` gave (`io.json_text`, the writer before streaming)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from panoptic_metrics import PanopticAccumulator, PanopticResults
from panoptic_metrics.evaluate import coco_pairs
from panoptic_metrics.image_states import ImageStates
from panoptic_metrics.io import json_text, json_text_chunks
from panoptic_metrics.matching import ImageStats

from tests.metrics.conftest import CocoSet


@pytest.fixture(scope="module")
def matched(random_set: CocoSet) -> tuple[PanopticAccumulator, list[ImageStats]]:
    """An accumulator with Boundary PQ over the random set, and each image's state as
    `update` returned it."""
    pairs, categories = coco_pairs(*random_set.args())
    accumulator = PanopticAccumulator(categories, boundary=True)
    stats = [accumulator.update(gt.load(), pred.load()) for gt, pred in pairs]
    return accumulator, stats


def _same_state(a: ImageStats, b: ImageStats) -> bool:
    assert b.boundary is not None
    assert a.boundary is not None
    return (
        a.image_id == b.image_id
        and a.classes.dtype == b.classes.dtype == np.int64
        and all(
            np.array_equal(getattr(a, k), getattr(b, k))
            for k in ("classes", "sums", "errors", "boundary")
        )
    )


def test_states_read_back_as_added(matched: tuple[PanopticAccumulator, list[ImageStats]]) -> None:
    accumulator, stats = matched
    assert len(accumulator.images) == len(stats) == 28
    assert all(_same_state(a, b) for a, b in zip(accumulator.images, stats, strict=True))
    assert _same_state(accumulator.images[-1], stats[-1])
    assert accumulator.images[0].hist_bin.size == 0  # added to the histogram, not kept
    assert any(s.classes.size == 0 for s in stats)  # an image with no class at all


def test_states_pickle_extend_and_merge(
    matched: tuple[PanopticAccumulator, list[ImageStats]],
) -> None:
    accumulator, stats = matched
    again = pickle.loads(pickle.dumps(accumulator.images))
    assert all(_same_state(a, b) for a, b in zip(again, stats, strict=True))
    halves = ImageStates(stats[:10])
    halves.extend(ImageStates(stats[10:]))  # the array path of `merge` and `distributed`
    assert all(_same_state(a, b) for a, b in zip(halves, stats, strict=True))
    first = PanopticAccumulator(accumulator.categories, boundary=True)
    second = PanopticAccumulator(accumulator.categories, boundary=True)
    for k, s in enumerate(stats):
        (first if k < 13 else second).add(s)
    merged, whole = first.merge(second).compute().to_json(), accumulator.compute().to_json()
    assert merged["per_image"] == whole["per_image"]  # the dataset sums: added in another order
    assert merged["pq"] == pytest.approx(whole["pq"], abs=1e-12)


def test_per_image_results_equal_their_tuple(
    matched: tuple[PanopticAccumulator, list[ImageStats]],
) -> None:
    results = matched[0].compute()
    rows = tuple(results.per_image)
    assert results.per_image == rows
    assert rows == results.per_image
    assert results.per_image[-1] == rows[-1]
    assert results.per_image[2:5] == rows[2:5]
    assert results.errors is not None
    assert results.errors.per_image == tuple(results.errors.per_image)
    read = PanopticResults.from_json(results.to_json())
    assert [i.image_id for i in read.per_image] == [i.image_id for i in rows]
    assert (read.image_sums() == results.image_sums()).all()


def test_written_json_is_the_whole_file_json(
    matched: tuple[PanopticAccumulator, list[ImageStats]], tmp_path: Path
) -> None:
    results = matched[0].compute().with_groups({"a": [3, 7], "b": [40]})
    path = tmp_path / "results.json"
    results.write_json(path)
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == json.loads(json_text(results.to_json()))
    # one line per image, each row whole on it (json's C encoder, no indent)
    rows = [json.loads(line.strip().rstrip(",")) for line in _per_image_lines(text)]
    assert rows == results.to_json()["per_image"]
    assert len(rows) == results.n_images > 0


def _per_image_lines(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(' "per_image": [')
    stop = lines.index(" ],", start)
    return lines[start + 1 : stop]


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"a": 1},
        {"rows": []},
        {"x": {"y": [1, {"z": None}]}, "rows": [{"k": [1.5, "n\u00e9\n"]}, {}], "tail": "t"},
    ],
)
def test_json_chunks_read_back_as_the_data(data: dict[str, object]) -> None:
    assert "".join(json_text_chunks(data)) == json_text(data)  # nothing streamed
    assert json.loads(json_text(data)) == data
    streamed = {k: iter(v) if isinstance(v, list) else v for k, v in data.items()}
    text = "".join(json_text_chunks(streamed))
    assert json.loads(text) == data
    for key, value in data.items():  # a streamed list: one item a line
        if isinstance(value, list) and value:
            lines = text.splitlines()
            start = lines.index(f" {json.dumps(key)}: [")
            rows = lines[start + 1 : start + 1 + len(value)]
            assert [json.loads(line.strip().rstrip(",")) for line in rows] == value
            assert lines[start + 1 + len(value)].startswith(" ]")


def test_streamed_rows_refuse_nan() -> None:
    with pytest.raises(ValueError, match="Out of range float values"):
        "".join(json_text_chunks({"rows": iter([{"pq": float("nan")}])}))
