"""The results dataclass: the JSON keys of docs/contracts.md §3, round trip, DataFrames."""

from __future__ import annotations

import copy
import functools
import json
import math
import operator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from panoptic_metrics import PanopticInputError, PanopticResults, evaluate_coco
from panoptic_metrics.tables import class_table, per_class_csv, summary_table

from tests.metrics.conftest import CocoSet

SCORES = ["pq", "sq", "rq", "pq_dagger"]


@pytest.fixture(scope="module")
def results(random_set: CocoSet) -> PanopticResults:
    return evaluate_coco(*random_set.args(), workers=1, progress=False)


def _fractions(values: list[float | None]) -> bool:
    return all(v is None or 0.0 <= v <= 1.0 for v in values)


def test_json_has_exactly_the_contract_keys(results: PanopticResults) -> None:
    data = results.to_json()
    head = [*SCORES, "things", "stuff", "per_class", "per_image", "mode", "n_images"]
    assert list(data) == [*head, "pq_at", "errors"]  # `groups` only when groups were given
    for part in ("things", "stuff"):
        assert list(data[part]) == ["pq", "sq", "rq", "pq_dagger", "n"]
        assert _fractions([data[part][k] for k in ("pq", "sq", "rq", "pq_dagger")])
    assert _fractions([data[k] for k in ("pq", "sq", "rq", "pq_dagger")])
    assert data["mode"] == "strict"
    assert data["n_images"] == len(data["per_image"]) == 28
    assert set(data["per_class"]) == {"3", "7", "8", "21", "22", "40"}
    for entry in data["per_class"].values():
        assert {"pq", "sq", "rq", "pq_dagger", "tp", "fp", "fn", "iou_sum"} <= set(entry)
        assert _fractions([entry[k] for k in ("pq", "sq", "rq", "pq_dagger")])
    for row in data["per_image"]:
        assert {"image_id", "pq", "pq_dagger", "errors"} <= set(row)
    json.dumps(data, allow_nan=False)  # strict JSON: NaN is written as null


def test_undefined_values_are_null(results: PanopticResults) -> None:
    data = results.to_json()
    empty = [row for row in data["per_image"] if not row["classes"]]
    assert empty, "the data has an image with nothing in gt or prediction"
    assert all(row["pq"] is None and row["pq_dagger"] is None for row in empty)


def test_json_round_trip_recomputes_the_same_results(
    results: PanopticResults, tmp_path: Path
) -> None:
    path = tmp_path / "out" / "results.json"
    results.write_json(path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["results.json"]  # no temp files
    again = PanopticResults.from_json(json.loads(path.read_text()))
    assert again.to_json() == results.to_json()
    assert again.categories == results.categories
    assert (again.image_sums() == results.image_sums()).all()


def _edit(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A deep copy of `data` with the entry at `path` replaced (or deleted: value `DELETE`)."""
    data = copy.deepcopy(data)
    *parents, last = path
    holder = functools.reduce(operator.getitem, parents, data)
    if value is DELETE:
        del holder[last]
    else:
        holder[last] = value
    return data


DELETE = object()
MALFORMED = [  # (where, what, the error PanopticInputError reports)
    (("per_image",), DELETE, "KeyError: 'per_image'"),
    (("per_class", "22", "tp"), "3", "TypeError: expected a number or null, got '3'"),
    (("per_class", "22", "iou_histogram"), [1.5], "TypeError: expected an integer, got 1.5"),
    (("per_image", 0, "classes"), {"999": [0.0] * 6}, "KeyError: 999"),
    (("per_image", 0, "classes"), {"x": [0.0] * 6}, "ValueError: expected a category id"),
    (("per_image", 0, "classes"), {"22": [1.0] * 5}, "ValueError: cannot reshape"),
    (("per_image", 0, "classes"), [], "AttributeError"),
    (("per_image", 0, "image_id"), 1.5, "image_id must be an integer or a string"),
    (("mode",), "fast", "ValueError: mode must be one of"),
]


@pytest.mark.parametrize(("path", "value", "error"), MALFORMED)
def test_malformed_json_is_refused_naming_its_source(
    results: PanopticResults, path: tuple[Any, ...], value: Any, error: str
) -> None:
    bad = _edit(results.to_json(), path, value)
    with pytest.raises(PanopticInputError) as caught:
        PanopticResults.from_json(bad, source="bad.json")
    assert caught.value.source == "bad.json"
    assert caught.value.problem.startswith("not a panoptic_metrics results file")
    assert error in caught.value.problem
    with pytest.raises(PanopticInputError, match=r"^bad\.json: not a panoptic_metrics results"):
        PanopticResults.from_json([], source="bad.json")


def test_dataframes(results: PanopticResults) -> None:
    per_class = results.to_dataframe()
    assert per_class.index.tolist() == [3, 7, 8, 21, 22, 40]
    assert per_class.loc[22, "tp"] == results.per_class[4].tp
    per_image = results.to_dataframe("per_image")
    assert len(per_image) == results.n_images
    worst = per_image.sort_values("pq").iloc[0]
    assert worst["pq"] == min(i.pq for i in results.per_image if not math.isnan(i.pq))
    with pytest.raises(ValueError, match="kind must be"):
        results.to_dataframe("per_pixel")


def test_tables_and_csv(results: PanopticResults) -> None:
    summary = summary_table(results)
    assert summary.splitlines()[2].startswith("All")
    assert f"{100 * results.pq:.2f}" in summary
    table = class_table(results)
    assert all(c.category.name in table for c in results.per_class)
    lines = per_class_csv(results).splitlines()
    assert lines[0].startswith("category_id,name,isthing,pq,sq,rq,pq_dagger,tp,fp,fn")
    assert len(lines) == 1 + len(results.per_class)
    first = lines[1].split(",")
    assert float(first[3]) == results.per_class[0].pq


def test_docstring_example_runs() -> None:
    import doctest

    import panoptic_metrics.accumulator

    failures, tried = doctest.testmod(panoptic_metrics.accumulator, verbose=False)
    assert (failures, tried > 0) == (0, True)


def test_json_float_turns_every_nan_into_null_and_the_rest_into_floats() -> None:
    from panoptic_metrics.io import json_float

    for nan in (float("nan"), np.float64("nan"), np.float32("nan")):
        assert json_float(nan) is None
    for value, expected in ((0.5, 0.5), (np.float64(0.25), 0.25), (np.float32(0.5), 0.5), (3, 3.0)):
        out = json_float(value)
        assert type(out) is float
        assert out == expected
