"""The synthetic street-scene generator: determinism, self-consistency, coverage, and agreement
with cityscapesscripts' own Cityscapes -> COCO-panoptic conversion run on our gtFine output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from reference_model.synthetic import CLASSES, generate, make_sample, panoptic_segments
from reference_model.synthetic.classes import INSTANCE_DIVISOR, VOID_LABEL_IDS

SIZE = {"height": 64, "width": 128}


def _rgb_to_ids(path: Path) -> np.ndarray:
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def _load(root: Path, split: str) -> dict:
    return json.loads((root / "gtFine" / f"cityscapes_panoptic_{split}.json").read_text())


def test_same_seed_same_sample_other_seed_other_sample() -> None:
    a = make_sample("train", 3, seed=1, **SIZE)
    b = make_sample("train", 3, seed=1, **SIZE)
    c = make_sample("train", 3, seed=2, **SIZE)
    assert np.array_equal(a.image, b.image)
    assert np.array_equal(a.instance_ids, b.instance_ids)
    assert not np.array_equal(a.instance_ids, c.instance_ids)
    assert not np.array_equal(make_sample("val", 3, seed=1, **SIZE).image, a.image)


def test_generated_files_are_byte_identical_across_runs_and_worker_counts(tmp_path: Path) -> None:
    generate(tmp_path / "a", {"val": 4}, seed=5, workers=1, progress=False, **SIZE)
    generate(tmp_path / "b", {"val": 4}, seed=5, workers=2, progress=False, **SIZE)
    files_a = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    files_b = sorted(
        p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file()
    )
    assert files_a == files_b
    assert len(files_a) == 4 * 4 + 2  # 4 PNGs per image, the split JSON, the manifest
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_json_segments_agree_with_pngs(synthetic_root: Path) -> None:
    for split in ("train", "val"):
        data = _load(synthetic_root, split)
        assert len(data["images"]) == len(data["annotations"]) == 19
        for ann in data["annotations"]:
            ids = _rgb_to_ids(
                synthetic_root / "gtFine" / f"cityscapes_panoptic_{split}" / ann["file_name"]
            )
            present, counts = np.unique(ids[ids > 0], return_counts=True)
            segs = {s["id"]: s for s in ann["segments_info"]}
            assert len(segs) == len(ann["segments_info"]), "duplicate segment ids"
            assert sorted(segs) == present.tolist()
            for seg_id, count in zip(present.tolist(), counts.tolist(), strict=True):
                seg = segs[seg_id]
                assert seg["area"] == count
                ys, xs = np.nonzero(ids == seg_id)
                assert seg["bbox"] == [
                    xs.min(),
                    ys.min(),
                    xs.max() - xs.min() + 1,
                    ys.max() - ys.min() + 1,
                ]


def test_panoptic_gt_matches_cityscapes_gt(synthetic_root: Path) -> None:
    """labelIds, instanceIds and the panoptic PNG describe the same pixels."""
    data = _load(synthetic_root, "val")
    cats = {c["id"]: c for c in data["categories"]}
    for ann in data["annotations"]:
        name = ann["image_id"]
        city = name.split("_")[0]
        gt_dir = synthetic_root / "gtFine" / "val" / city
        labels = np.asarray(Image.open(gt_dir / f"{name}_gtFine_labelIds.png"), dtype=np.int64)
        instances = np.asarray(
            Image.open(gt_dir / f"{name}_gtFine_instanceIds.png"), dtype=np.int64
        )
        ids = _rgb_to_ids(synthetic_root / "gtFine" / "cityscapes_panoptic_val" / ann["file_name"])
        assert np.array_equal(
            np.where(instances >= INSTANCE_DIVISOR, instances // INSTANCE_DIVISOR, instances),
            labels,
        )
        assert np.array_equal(ids == 0, np.isin(labels, VOID_LABEL_IDS))
        for seg in ann["segments_info"]:
            mask = ids == seg["id"]
            assert np.all(labels[mask] == seg["category_id"])
            assert np.all(instances[mask] == seg["id"])
            assert seg["iscrowd"] == int(
                cats[seg["category_id"]]["isthing"] == 1 and seg["id"] < INSTANCE_DIVISOR
            )


def test_every_class_void_and_crowd_appear_in_a_split(synthetic_root: Path) -> None:
    for split in ("train", "val"):
        data = _load(synthetic_root, split)
        seen = {s["category_id"] for a in data["annotations"] for s in a["segments_info"]}
        assert seen == {c.label_id for c in CLASSES}
    crowd = [
        s
        for split in ("train", "val")
        for a in _load(synthetic_root, split)["annotations"]
        for s in a["segments_info"]
        if s["iscrowd"]
    ]
    assert crowd, "no crowd region in 38 images"
    void = [
        a
        for a in _load(synthetic_root, "val")["annotations"]
        if sum(s["area"] for s in a["segments_info"]) < SIZE["height"] * SIZE["width"]
    ]
    assert void, "no void pixels in 19 images"


def test_thing_instances_have_their_own_ids() -> None:
    """Every non-crowd thing segment is one instance: id = class * 1000 + k, unique in its image,
    and each thing class of an image numbers its instances from 0 (Cityscapes' convention)."""
    instances_per_image = []
    for index in range(19):
        sample = make_sample("train", index, seed=3, **SIZE)
        _, segments = panoptic_segments(sample.instance_ids)
        things = [s for s in segments if s["id"] >= INSTANCE_DIVISOR]
        assert len({s["id"] for s in things}) == len(things)
        for s in things:
            assert s["id"] // INSTANCE_DIVISOR == s["category_id"]
            assert s["iscrowd"] == 0
        instances_per_image.append(len(things))
    assert max(instances_per_image) >= 3  # scenes do have several instances that can overlap


def test_class_table_matches_cityscapesscripts() -> None:
    from cityscapesscripts.helpers import labels

    evaluated = [lab for lab in labels.labels if not lab.ignoreInEval]
    assert [
        (c.name, c.label_id, c.train_id, c.supercategory, c.isthing, c.color) for c in CLASSES
    ] == [
        (lab.name, lab.id, lab.trainId, lab.category, lab.hasInstances, lab.color)
        for lab in evaluated
    ]


def test_coco_output_equals_cityscapesscripts_conversion(
    synthetic_root: Path, tmp_path: Path
) -> None:
    """Run cityscapesscripts' createPanopticImgs on our gtFine/val and compare with our output."""
    code = (
        "import sys\n"
        "from cityscapesscripts.preparation.createPanopticImgs import convert2panoptic\n"
        "convert2panoptic(sys.argv[1], sys.argv[2], False, ['val'])"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(synthetic_root / "gtFine"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    theirs = json.loads((tmp_path / "cityscapes_panoptic_val.json").read_text())
    ours = _load(synthetic_root, "val")
    assert ours["categories"] == theirs["categories"]
    # cityscapesscripts derives the image file name from the gtFine name and so writes
    # "{id}_gtFine_leftImg8bit.png", a file that does not exist; ours names the real image.
    for mine, other in zip(ours["images"], theirs["images"], strict=True):
        assert other["file_name"] == f"{other['id']}_gtFine_leftImg8bit.png"
        assert mine == {**other, "file_name": f"{other['id']}_leftImg8bit.png"}
    assert ours["annotations"] == theirs["annotations"]
    for ann in ours["annotations"]:
        a = np.asarray(
            Image.open(synthetic_root / "gtFine" / "cityscapes_panoptic_val" / ann["file_name"])
        )
        b = np.asarray(Image.open(tmp_path / "cityscapes_panoptic_val" / ann["file_name"]))
        assert np.array_equal(a, b), ann["file_name"]


def test_command_line(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "reference_model.synthetic",
            "--output",
            str(out),
            "--train",
            "2",
            "--val",
            "1",
            "--height",
            "40",
            "--width",
            "80",
            "--workers",
            "1",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "synthetic.json").read_text())
    assert manifest["splits"] == {"train": 2, "val": 1}
    assert len(list((out / "leftImg8bit" / "train").rglob("*.png"))) == 2
    bad = subprocess.run(
        [sys.executable, "-m", "reference_model.synthetic", "--output", str(out), "--height", "8"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert "at least 32" in bad.stderr


def test_no_partial_files_left_behind(synthetic_root: Path) -> None:
    assert not list(synthetic_root.rglob("*.part"))
