"""The per-image fast paths agree with the plain code they shortcut (issue 14, COCO-like
workload): the bulk `segments_info` parser with `Segments.from_info` (results and errors),
`json_text` with `json.dumps(indent=1)` (text and errors), and pool tasks of several pairs
(ranges for forked workers, pairs for spawned ones) with one pair at a time."""

from __future__ import annotations

import json
import multiprocessing
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from panoptic_metrics import PanopticInputError, evaluate_coco
from panoptic_metrics.categories import CategorySet
from panoptic_metrics.evaluate import MAX_BATCH, _batches
from panoptic_metrics.io import json_text
from panoptic_metrics.readers import coco

from tests.metrics.conftest import CocoSet

HOSTILE_INTS = [0, -1, 1, 2, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 10**40]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 6),
    st.sampled_from(HOSTILE_INTS),
    st.floats(),
    st.sampled_from([1.0, 2.0, 0.5, -0.0, 1e300, float("nan"), float("inf")]),
    st.text(max_size=4),
    st.sampled_from(["\ud800", "a,b", 'q"[{', "é"]),
)
json_like = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=3) | st.integers(-2, 99), inner, max_size=4)
        | st.dictionaries(st.sampled_from([1.5, True, None]), inner, max_size=1)
    ),
    max_leaves=12,
)
FAST = settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def dumped(data: Any) -> str:
    """What `json_text` must equal: the encoder it replaces, or the error it raises."""
    try:
        return json.dumps(data, indent=1, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


def ours(data: Any) -> str:
    try:
        return json_text(data)
    except (TypeError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


@FAST
@given(json_like)
def test_json_text_is_json_dumps_indent_1_byte_for_byte(data: Any) -> None:
    assert ours(data) == dumped(data)
    assert ours({"per_image": [data, [1, 2.5]], "k": data}) == dumped(
        {"per_image": [data, [1, 2.5]], "k": data}
    )


def test_json_text_of_results_and_of_what_json_refuses(random_set: CocoSet) -> None:
    results = evaluate_coco(*random_set.args(), workers=1, progress=False).to_json()
    assert json_text(results) == json.dumps(results, indent=1, allow_nan=False) + "\n"
    for refused in ({"pq": float("nan")}, [np.int64(3)], {"x": {1, 2}}, {(1, 2): 0}):
        assert ours(refused) == dumped(refused)
        assert ours(refused).startswith(("ValueError", "TypeError"))
    cycle: list[Any] = []
    cycle.append(cycle)
    assert ours(cycle) == dumped(cycle) == "ValueError: Circular reference detected"


HOSTILE = [0, -1, 2, 5, 2**63, -(2**63) - 1, 10**40, 1.0, 2.5, float("nan"), True, False]
HOSTILE += [None, "1", "\ud800", [], {}, [1], {"id": 1}]
# Values that only just fail each field's check (or pass `from_info` but not the fast path).
NEAR_MISS: dict[str, list[Any]] = {
    "id": [0, -1, 2**63, 2.0, True],
    "category_id": [0, 3, -1, 2**63, 2.0, False],
    "iscrowd": [2, -1, True, 1.0, 0.0],
    "area": [0, -1, 2**63, 3.0, True],
}


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A COCO-panoptic document of 1 to 4 images, valid or with one to three values made
    hostile (the edits are chosen by a seeded `random.Random`, so that every kind of edit
    and value is as likely as any other)."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    annotations: list[Any] = []
    for k in range(rng.randint(1, 4)):
        info = []
        for segment_id in rng.sample(range(1, 30), rng.randint(0, 5)):
            segment = {"id": segment_id, "category_id": rng.choice([1, 2])}
            for key, value in (("iscrowd", rng.randint(0, 1)), ("area", rng.randint(1, 50))):
                if rng.random() < 0.7:
                    segment[key] = value
            info.append(segment)
        annotations.append({"image_id": k, "file_name": f"{k}.png", "segments_info": info})
    if rng.random() < 0.4:
        return {"annotations": annotations}
    for _ in range(rng.randint(1, 3)):
        k = rng.randrange(len(annotations))
        ann = annotations[k]
        info = ann.get("segments_info") if isinstance(ann, dict) else None
        if not isinstance(info, list) or not info:
            continue  # made hostile already, or no segment
        where = rng.choice(["value"] * 6 + ["delete", "info", "annotation", "key", "twice"])
        segment, key = rng.choice(info), rng.choice(["id", "category_id", "iscrowd", "area"])
        if where == "value" and isinstance(segment, dict):
            segment[key] = rng.choice(HOSTILE if rng.random() < 0.3 else NEAR_MISS[key])
        elif where == "delete" and isinstance(segment, dict):
            segment.pop(key, None)
        elif where == "info":
            ann["segments_info"] = rng.choice([None, 3, "x", [3], {"id": 1}])
        elif where == "annotation":
            annotations[k] = rng.choice([None, 3, "x", []])
        elif where == "key":
            ann.pop("segments_info")
        elif where == "twice" and isinstance(segment, dict):  # a segment id twice in an image
            info.append(dict(segment))
    return {"annotations": annotations}


def parsed(data: Any, json_path: Path, folder: Path, categories: CategorySet | None) -> Any:
    """The images of `parse_coco_panoptic`, as comparable values, or its error message."""
    try:
        result = coco.parse_coco_panoptic(data, json_path, folder, categories=categories)
    except PanopticInputError as exc:
        return str(exc)
    return [
        (
            image_id,
            source.path,
            *(
                (a.dtype.str, a.tolist())
                for a in (
                    source.segments.ids,
                    source.segments.category_ids,
                    source.segments.iscrowd,
                    source.segments.areas,
                )
            ),
        )
        for image_id, source in result.images.items()
    ]


@pytest.fixture(scope="module")
def png_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fast_paths")


CATEGORIES = CategorySet.from_coco(
    [{"id": 1, "name": "a", "isthing": 1}, {"id": 2, "name": "b", "isthing": 0}], source="test"
)


@FAST
@given(document=documents())
def test_bulk_segments_parse_as_the_per_segment_reader(
    document: dict[str, Any], png_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for categories in (None, CATEGORIES):
        fast = parsed(document, png_folder / "x.json", png_folder, categories)
        with monkeypatch.context() as patch:
            patch.setattr(coco, "bulk_segments", lambda annotations, check: None)
            plain = parsed(document, png_folder / "x.json", png_folder, categories)
        assert fast == plain


def test_bulk_segments_take_the_usual_and_leave_the_unusual(png_folder: Path) -> None:
    usual = [
        {"segments_info": [{"id": 5, "category_id": 2, "iscrowd": 1, "area": 4}]},
        {"segments_info": []},
        {"segments_info": [{"id": 5, "category_id": 1}, {"id": 7, "category_id": 2}]},
    ]
    parts = coco.bulk_segments(usual, CATEGORIES)
    assert parts is not None
    assert [len(p) for p in parts] == [1, 0, 2]
    assert parts[0].iscrowd.tolist() == [True]
    assert parts[2].areas.tolist() == [-1, -1]
    empty = coco.bulk_segments([], None)
    assert empty is not None
    assert len(empty) == 0
    for unusual in (
        [{"segments_info": [{"id": 5, "category_id": 2, "area": 3.0}]}],  # a float
        [{"segments_info": [{"id": True, "category_id": 2}]}],  # a bool
        [{"segments_info": [{"id": 5, "category_id": 2, "area": -1}]}],  # an area given as -1
        [{"segments_info": [{"id": 2**63, "category_id": 2}]}],  # beyond int64
        [{"segments_info": [{"id": 5, "category_id": 2}, {"id": 5, "category_id": 1}]}],
        [{"segments_info": [{"id": 5, "category_id": 3}]}],  # not a category
        [{"segments_info": [{"id": 0, "category_id": 2}]}],
        [{"segments_info": [{"id": 1, "category_id": 2, "iscrowd": 2}]}],
        [{"segments_info": [{"category_id": 2}]}],
        [{"segments_info": None}],
        [None],
    ):
        assert coco.bulk_segments(unusual, CATEGORIES) is None, unusual


def test_batches_cover_every_pair_once_in_order() -> None:
    for start, stop, workers in ((1, 1, 2), (1, 2, 2), (1, 28, 2), (1, 1000, 2), (0, 5000, 3)):
        batches = _batches(start, stop, workers)
        assert [i for batch in batches for i in batch] == list(range(start, stop))
        assert all(1 <= len(batch) <= MAX_BATCH for batch in batches)
        sizes = [len(batch) for batch in batches]
        assert sizes == sorted(sizes, reverse=True)  # the last ones are the smallest
        assert sizes[-workers:] == [1] * min(workers, len(sizes))


def test_spawned_workers_get_their_pairs_in_the_tasks(
    random_set: CocoSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forked workers read the pairs they inherit; spawned ones (macOS, Windows) get them
    with each task: the same results either way, in dataset order."""
    forked = evaluate_coco(*random_set.args(), workers=2, progress=False).to_json()
    spawn = multiprocessing.get_context("spawn")
    monkeypatch.setattr(multiprocessing, "get_context", lambda *args: spawn)
    spawned = evaluate_coco(*random_set.args(), workers=2, progress=False).to_json()
    assert spawned == forked


def _collecting_during(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[bool]:
    """Record `gc.isenabled()` each time `module.name` is called."""
    import gc

    seen: list[bool] = []
    original = getattr(module, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return seen


def test_the_reader_pauses_the_collector_and_restores_it(
    random_set: CocoSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    seen = _collecting_during(monkeypatch, coco, "read_json")
    assert gc.isenabled()
    coco.load_coco_panoptic(random_set.gt_json, random_set.gt_folder)
    assert seen == [False]
    assert gc.isenabled()
    gc.disable()  # a caller's own choice is kept
    try:
        coco.load_coco_panoptic(random_set.gt_json, random_set.gt_folder)
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(PanopticInputError):  # and restored when reading fails
        coco.load_coco_panoptic(random_set.gt_json, random_set.gt_folder / "missing")
    assert gc.isenabled()
