"""PQ per class group (`groups`, `--groups`): the embedded Cityscapes table against
cityscapesscripts' label table, the scores against vernier's `class_grouping` (run here, 1e-9),
and the checks of a user's groups file."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from panoptic_metrics import (
    PanopticInputError,
    PanopticResults,
    cityscapes_categories,
    cityscapes_groups,
    evaluate_coco,
    load_groups,
)
from panoptic_metrics.cli import main

from tests.metrics.conftest import CocoSet
from tests.metrics.peers import vernier_panoptic

TOL = 1e-9
# a class may sit in several groups ("bikes"); vernier wants a partition (the first two)
USER_GROUPS = {"flat-and-people": [3, 21], "rest": [7, 8, 22, 40], "bikes": [40]}
PARTITION = {k: USER_GROUPS[k] for k in ("flat-and-people", "rest")}


def test_cityscapes_groups_are_cityscapesscripts_categories() -> None:
    from cityscapesscripts.helpers.labels import labels

    expected: dict[str, list[int]] = defaultdict(list)
    for label in labels:
        if not label.ignoreInEval:
            expected[label.category].append(label.id)
    assert {k: list(v) for k, v in cityscapes_groups().items()} == dict(expected)
    assert list(cityscapes_groups()) == [
        "flat", "construction", "object", "nature", "sky", "human", "vehicle"
    ]  # fmt: skip
    members = sorted(i for ids in cityscapes_groups().values() for i in ids)
    assert members == sorted(cityscapes_categories().ids.tolist())  # each class once


def _assert_groups_equal_vernier(ours: PanopticResults, theirs: Any) -> None:
    per_group = theirs.per_group()
    assert sorted(g.name for g in ours.groups) == sorted(per_group)
    for g in ours.groups:
        other = per_group[g.name]
        assert list(g.category_ids) == sorted(other.member_category_ids)
        for key in ("pq", "sq", "rq"):
            assert getattr(g.quality, key) == pytest.approx(getattr(other, key), abs=TOL)
        assert g.quality.n == other.n


def test_user_groups_equal_vernier(random_set: CocoSet) -> None:
    ours = evaluate_coco(*random_set.args(), workers=1, progress=False, groups=PARTITION)
    _assert_groups_equal_vernier(ours, vernier_panoptic(*random_set.args(), groups=PARTITION))
    overlapping = ours.with_groups(USER_GROUPS)
    assert overlapping.group("rest") == ours.group("rest")
    bikes = overlapping.group("bikes").quality
    bike = next(c for c in ours.per_class if c.category.id == 40)  # a group of one: the class
    assert (bikes.pq, bikes.sq, bikes.rq, bikes.pq_dagger) == (bike.pq, bike.sq, bike.rq, bike.pq)


def test_cityscapes_groups_on_realistic_scenes_equal_vernier(realistic_set: CocoSet) -> None:
    groups = {k: list(v) for k, v in cityscapes_groups().items()}
    ours = evaluate_coco(*realistic_set.args(), workers=1, progress=False, groups=groups)
    _assert_groups_equal_vernier(ours, vernier_panoptic(*realistic_set.args(), groups=groups))
    assert len({g.quality.pq for g in ours.groups}) > 3  # the groups differ


def test_a_group_of_undefined_classes_is_nan_with_a_warning(random_set: CocoSet) -> None:
    results = evaluate_coco(*random_set.args(), workers=1, progress=False)
    victim = results.per_class[0].category.id
    kept = results.per_class[0]
    # a class with nothing in gt or prediction is undefined; fake one through the JSON
    data = results.to_json()
    data["per_class"][str(victim)].update(tp=0, fp=0, fn=0, iou_sum=0.0)
    del data["errors"]  # its counts would no longer add up to the faked FN and FP
    emptied = PanopticResults.from_json(data)
    assert kept.tp > 0
    assert math.isnan(emptied.per_class[0].pq)
    with pytest.warns(RuntimeWarning, match="group 'alone'"):
        alone = emptied.with_groups({"alone": [victim]}).group("alone").quality
    assert math.isnan(alone.pq)
    assert math.isnan(alone.sq)
    assert alone.n == 0


def test_groups_round_trip_through_json(random_set: CocoSet) -> None:
    ours = evaluate_coco(*random_set.args(), workers=1, progress=False, groups=USER_GROUPS)
    data = json.loads(json.dumps(ours.to_json()))
    assert data["groups"]["rest"]["category_ids"] == [7, 8, 22, 40]
    assert list(data["groups"]["rest"]) == ["category_ids", "pq", "sq", "rq", "pq_dagger", "n"]
    assert PanopticResults.from_json(data).to_json() == data
    without = {k: v for k, v in data.items() if k != "groups"}
    assert PanopticResults.from_json(without).groups == ()
    data["groups"]["rest"]["category_ids"] = [7, 99]
    with pytest.raises(PanopticInputError, match=r"r\.json: group 'rest' has unknown .*\[99\]"):
        PanopticResults.from_json(data, source="r.json")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ({"a": [3, 99]}, r"group 'a' has unknown category ids \[99\]"),
        ({"a": 3}, "group 'a' is not a non-empty list of category ids"),
        ({"a": []}, "group 'a' is not a non-empty list"),
        ({"a": [3, "7"]}, "group 'a' has non-integer ids"),
        ({"a": [3, True]}, "group 'a' has non-integer ids"),
        ({"a": [3, 3]}, "group 'a' lists an id twice"),
        ({"": [3]}, "group name '' is not a non-empty text"),
        ([[3]], "expected an object"),
    ],
)
def test_bad_groups_files_name_the_file(
    random_set: CocoSet, tmp_path: Path, content: Any, problem: str
) -> None:
    path = tmp_path / "groups.json"
    path.write_text(json.dumps(content))
    categories = PanopticResults.from_json(
        evaluate_coco(*random_set.args(), workers=1, progress=False).to_json()
    ).categories
    with pytest.raises(PanopticInputError, match=f"groups.json: {problem}"):
        load_groups(path, categories)


def _cli_args(data: CocoSet, *extra: str) -> list[str]:
    args = ["evaluate", "--gt-json", str(data.gt_json), "--gt-folder", str(data.gt_folder)]
    args += ["--pred-json", str(data.pred_json), "--pred-folder", str(data.pred_folder)]
    return [*args, "--no-progress", "--workers", "1", *extra]


def test_cli_groups_prints_and_writes_them(
    random_set: CocoSet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    groups, out = tmp_path / "groups.json", tmp_path / "r.json"
    groups.write_text(json.dumps(USER_GROUPS))
    assert main(_cli_args(random_set, "--groups", str(groups), "--output", str(out))) == 0
    printed = capsys.readouterr().out
    expected = evaluate_coco(*random_set.args(), workers=1, progress=False, groups=USER_GROUPS)
    rest = expected.group("rest").quality
    line = next(s for s in printed.splitlines() if s.startswith("rest"))
    assert line.split("|")[1].split()[:2] == [f"{100 * rest.pq:.2f}", f"{100 * rest.sq:.2f}"]
    assert json.loads(out.read_text()) == expected.to_json()


def test_cli_bad_groups_file_exits_2_before_evaluating(
    random_set: CocoSet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    groups, out = tmp_path / "groups.json", tmp_path / "r.json"
    groups.write_text(json.dumps({"a": [3, 12345]}))
    assert main(_cli_args(random_set, "--groups", str(groups), "--output", str(out))) == 2
    err = capsys.readouterr().err
    assert f"{groups}: group 'a' has unknown category ids [12345]" in err
    assert not out.exists()
    assert main(_cli_args(random_set, "--groups", str(tmp_path / "missing.json"))) == 2
    assert "missing.json: file not found" in capsys.readouterr().err
