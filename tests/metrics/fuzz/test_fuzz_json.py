"""Fuzzing the JSON readers: documents, segments, categories and text (issue 11).

Every reader gets valid documents with one value replaced by any JSON value (integers beyond
64 bits, 1e300, NaN, lone surrogates, nested containers), keys deleted or added, and raw text
that is not JSON at all (deep nesting, huge integers, bad UTF-8). Contract: the result, or a
`PanopticInputError` naming the file; never another exception.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from panoptic_metrics import PanopticInputError, PanopticResults
from panoptic_metrics.bootstrap import paired_bootstrap
from panoptic_metrics.categories import CategorySet
from panoptic_metrics.coco_results import read_coco_results
from panoptic_metrics.io import json_text, read_json
from panoptic_metrics.readers import load_coco_panoptic
from panoptic_metrics.segmentation import Segments
from panoptic_metrics.tables import class_table, summary_table

from tests.metrics.fuzz.contract import check_refused_or_equal, fuzz, mutants

INT64_MAX = 2**63 - 1
SPECIAL_INTS = [0, -1, 1, 2, 255, 2**24, 2**31, 2**32, 2**53 + 1, INT64_MAX, 2**63, -(2**63) - 1]
SPECIAL_INTS += [2**64 + 1, 2**70, 10**40, -(10**40)]
SPECIAL_TEXT = ["\ud800", "a\udcff", "a\x00b", "../x.png", "/abs.png", "C:\\x.png", "", "x.png"]
KEYS = ["id", "category_id", "iscrowd", "area", "image_id", "file_name", "segments_info"]
KEYS += ["name", "isthing", "categories", "annotations", "per_class", "per_image", "mode"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(SPECIAL_INTS),
    st.floats(),
    st.sampled_from([1e300, -1e300, 0.5, 1.0, 2.0**63, -0.0]),
    st.text(max_size=6),
    st.sampled_from(SPECIAL_TEXT),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)

CATEGORIES: list[dict[str, Any]] = [
    {"id": 1, "name": "person", "isthing": 1},
    {"id": 2, "name": "road", "isthing": 0},
]
PANOPTIC: dict[str, Any] = {
    "images": [{"id": 1, "height": 4, "width": 5}, {"id": "b", "height": 4, "width": 5}],
    "annotations": [
        {
            "image_id": 1,
            "file_name": "1.png",
            "segments_info": [
                {"id": 3, "category_id": 1, "iscrowd": 0, "area": 7},
                {"id": 70000, "category_id": 2, "area": 13.0},
            ],
        },
        {"image_id": "b", "file_name": "sub/b.png", "segments_info": []},
    ],
    "categories": CATEGORIES,
}
RESULTS_CLASS = {
    "name": "person",
    "isthing": True,
    "tp": 1,
    "fp": 1,
    "fn": 0,
    "iou_sum": 0.75,
    "pq_dagger_n": 0,
    "pq_dagger_iou_sum": 0.0,
    "iou_histogram": [0, 1, 0],
}
RESULTS: dict[str, Any] = {
    "per_class": {"1": RESULTS_CLASS, "2": {**RESULTS_CLASS, "name": "road", "isthing": False}},
    "per_image": [
        {"image_id": 1, "classes": {"1": [1, 1, 0, 0.75, 0, 0.0], "2": [1, 1, 0, 0.75, 0, 0.0]}},
        {"image_id": "b", "classes": {}},
    ],
    "mode": "strict",
}
COCO_RESULTS: list[dict[str, Any]] = [
    {"image_id": 1, "category_id": 1, "segmentation": {"size": [2, 2], "counts": "04"}, "score": 1},
    {
        "image_id": 1,
        "category_id": 2,
        "segmentation": {"size": [2, 2], "counts": [1, 3]},
        "score": 0.5,
    },
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PNG folder (the readers check that it exists) and the home of the JSON files."""
    root = tmp_path_factory.mktemp("fuzz_json")
    (root / "png").mkdir()
    return root


@st.composite
def edits(draw: st.DrawFn) -> list[tuple[list[int], str, Any]]:
    """A few edits of a document: (choices along a path, action, value)."""
    return [
        (
            draw(st.lists(st.integers(0, 7), min_size=0, max_size=5)),
            draw(st.sampled_from(["replace", "delete", "add"])),
            draw(json_values),
        )
        for _ in range(draw(st.integers(1, 3)))
    ]


def apply(document: Any, changes: list[tuple[list[int], str, Any]]) -> Any:
    """A copy of `document` with each change made at the node its choices lead to."""
    root = {"doc": copy.deepcopy(document)}
    for choices, action, value in changes:
        parent: Any = root
        key: Any = "doc"
        for choice in choices:
            node = parent[key]
            if isinstance(node, dict) and node:
                parent, key = node, sorted(node, key=str)[choice % len(node)]
            elif isinstance(node, list) and node:
                parent, key = node, choice % len(node)
            else:
                break
        value = copy.deepcopy(value)  # a value inserted twice must not be one object
        if action == "replace" or parent is root:
            parent[key] = value
        elif action == "delete":
            del parent[key]
        elif isinstance(parent, dict):
            parent[str(value)[:8]] = value
        else:
            parent.insert(key, value)
    return root["doc"]


def _write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document))  # NaN, Infinity and lone surrogates as Python writes them
    return path


def _panoptic_ok(folder: Path) -> Any:
    def check(coco: Any) -> None:
        for source in coco.images.values():
            assert source.path.resolve().is_relative_to(folder.resolve())
            str(source.path).encode("utf-8")  # raises for a lone surrogate
            assert source.segments.ids.dtype == np.int64
            assert np.all(source.segments.ids > 0)
        if coco.categories is not None:
            for category in coco.categories.categories:
                category.name.encode("utf-8")

    return check


@pytest.mark.filterwarnings("ignore:.*no class to average:RuntimeWarning")
@fuzz(30)
@given(changes=mutants(edits()))
def test_json_documents(changes: list[Any], folder: Path) -> None:
    """COCO-panoptic documents (ground truth and prediction), results files and COCO results
    files, each with edited values."""
    path = folder / "document.json"
    png = folder / "png"
    for change in changes:
        _write(path, apply(PANOPTIC, change))
        check_refused_or_equal(
            "JSON documents", str(path), lambda: load_coco_panoptic(path, png), _panoptic_ok(png)
        )
        check_refused_or_equal(
            "JSON documents",
            str(path),
            lambda: load_coco_panoptic(path, png, categories=CategorySet.from_coco(CATEGORIES)),
            _panoptic_ok(png),
        )
        _write(path, apply(RESULTS, change))
        check_refused_or_equal(
            "JSON documents",
            str(path),
            lambda: PanopticResults.from_json(read_json(path), source=str(path)),
            _results_ok,
        )
        _write(path, apply(COCO_RESULTS, change))
        check_refused_or_equal(
            "JSON documents", str(path), lambda: read_coco_results(path, {1, 2}), lambda _: None
        )


def _results_ok(results: PanopticResults) -> None:
    """What `panoptic-metrics compare` and `evaluate` do with results: print, write, compare."""
    summary_table(results)
    class_table(results)
    finite = all(math.isfinite(c.iou_sum) for c in results.per_class)
    if finite:
        json_text(results.to_json())
    with contextlib.suppress(PanopticInputError):
        paired_bootstrap(results, results, n_samples=5)


def _fields(
    required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    """Objects of these keys, each value usually good, else any JSON value."""

    def spoiled(good: dict[str, st.SearchStrategy[Any]]) -> dict[str, st.SearchStrategy[Any]]:
        return {key: st.one_of(*[value] * 6, json_values) for key, value in good.items()}

    return st.fixed_dictionaries(spoiled(required), optional=spoiled(optional))


segment_fields = _fields(
    {"id": st.integers(1, 2**24), "category_id": st.integers(1, 200)},
    {
        "iscrowd": st.sampled_from([0, 1]),
        "area": st.integers(1, 10**6) | st.floats(1, 1e6),
    },
)


@fuzz(40)
@given(segments=mutants(st.lists(segment_fields | json_values, max_size=4)))
def test_segments(segments: list[Any]) -> None:
    """`Segments.from_info` of any list (or not a list): the arrays hold exactly the integers
    given, or the source is named."""
    for info in segments:

        def same(parsed: Segments, info: Any = info) -> None:
            assert parsed.ids.tolist() == [int(s["id"]) for s in info]
            assert parsed.category_ids.tolist() == [int(s["category_id"]) for s in info]
            assert parsed.areas.tolist() == [int(s.get("area", -1)) for s in info]

        def read(info: Any = info) -> Segments:
            return Segments.from_info(info, source="image 7")

        check_refused_or_equal("JSON segments", "image 7", read, same)


category_fields = _fields(
    {"id": st.integers(-(2**40), 2**40)},
    {
        "name": st.text(max_size=6),
        "isthing": st.sampled_from([0, 1, True, False]),
        "color": json_values,
    },
)


@fuzz(40)
@given(categories=mutants(st.lists(category_fields, min_size=1, max_size=4) | json_values))
def test_categories(categories: list[Any]) -> None:
    """`CategorySet.from_coco` of anything: the ids given, or the source named."""
    for items in categories:

        def same(parsed: CategorySet, items: Any = items) -> None:
            assert parsed.ids.tolist() == [int(c["id"]) for c in items]
            for category in parsed.categories:
                category.name.encode("utf-8")  # raises for a lone surrogate

        def read(items: Any = items) -> CategorySet:
            return CategorySet.from_coco(items, source="cats.json")

        check_refused_or_equal("JSON categories", "cats.json", read, same)


texts = st.one_of(st.text(max_size=12), st.sampled_from(SPECIAL_TEXT))
raw_texts = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"[" * 100_000, b"{" * 5000, b"1" * 5000, b'"\\ud800"', b"\xff\xfe", b""]),
)


@fuzz(40)
@given(
    names=mutants(st.tuples(texts, texts | st.integers(), texts)),
    raw=st.lists(raw_texts, min_size=1, max_size=2),
)
def test_text(names: list[tuple[str, Any, str]], raw: list[bytes], folder: Path) -> None:
    """File names, image ids and category names of any text (lone surrogates, NUL, `..`,
    absolute paths); files that are not JSON (deep nesting, huge integers, bad UTF-8)."""
    path = folder / "text.json"
    png = folder / "png"
    for file_name, image_id, category in names:
        document = copy.deepcopy(PANOPTIC)
        document["annotations"][0]["file_name"] = file_name
        document["annotations"][1]["image_id"] = image_id
        document["categories"][0]["name"] = category
        _write(path, document)
        check_refused_or_equal(
            "JSON text", str(path), lambda: load_coco_panoptic(path, png), _panoptic_ok(png)
        )
    for text in raw:
        path.write_bytes(text)
        check_refused_or_equal("JSON text", str(path), lambda: read_json(path), lambda _: None)


def test_deep_nesting_and_huge_integers_are_refused_by_name(folder: Path) -> None:
    path = folder / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(PanopticInputError, match="nested too deeply") as error:
        read_json(path)
    assert str(path) in str(error.value)
    path.write_text("1" * 5000)
    with pytest.raises(PanopticInputError, match="invalid JSON"):
        read_json(path)
