"""The datasets on disk: where each one keeps its images and its COCO-panoptic ground truth.

Per dataset, the ground truth and the images:

- cityscapes, synthetic: `gtFine/cityscapes_panoptic_{split}.json` and its PNG folder (made by
  cityscapesscripts' `createPanopticImgs`);
  images `leftImg8bit/{split}/{city}/{id}_leftImg8bit.png`.
- vistas v1.2: `{split}/v1.2/panoptic/panoptic_2018.json` and PNGs (`{split}/panoptic/` in the
  v1.x release); v2.0: `{split}/v2.0/panoptic/panoptic_2020.json`; images `{split}/images/*.jpg`.
- coco: `annotations/panoptic_{split}2017.json` and its PNG folder; images `{split}2017/*.jpg`.
- idd: level-3 instance-id PNGs `gtFine/{split}/{seq}/{frame}_gtFine_instancelevel3Ids.png`
  (see `idd.py`); images `leftImg8bit/{split}/{seq}/{frame}_leftImg8bit.{png,jpg}`.

Every reader raises `DatasetError` naming the missing or malformed file and how to prepare it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from panoptic_metrics.io import safe_join

from .idd import idd
from .records import DatasetError, DatasetSource, coco_panoptic_records

DATASETS = ("cityscapes", "synthetic", "vistas", "idd", "coco")


def _require_root(root: Path, dataset: str, how_to_prepare: str) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{dataset}: the data root {root} does not exist. {how_to_prepare}")
    return root


def _check_images(source: DatasetSource, how_to_prepare: str) -> DatasetSource:
    """Every record's image must exist: name the first missing ones."""
    missing = [r.image_path for r in source.records if not r.image_path.is_file()]
    if missing:
        shown = ", ".join(str(p) for p in missing[:3])
        raise DatasetError(
            f"{source.name} {source.split}: {len(missing)} of {len(source.records)} images are "
            f"missing, e.g. {shown}. {how_to_prepare}"
        )
    return source


def _cityscapes_layout(root: Path, split: str, name: str, how_to_prepare: str) -> DatasetSource:
    root = _require_root(root, name, how_to_prepare)
    gt_json = root / "gtFine" / f"cityscapes_panoptic_{split}.json"
    gt_folder = root / "gtFine" / f"cityscapes_panoptic_{split}"

    def image_path(entry: Mapping[str, Any]) -> Path:
        # The image id is "{city}_{sequence}_{frame}"; the JSON's file_name is not trusted
        # (cityscapesscripts writes "{id}_gtFine_leftImg8bit.png", a file that does not exist).
        image_id = entry["id"]
        if not isinstance(image_id, str) or "_" not in image_id:
            raise DatasetError(
                f"{gt_json}: image id {image_id!r} is not {{city}}_{{seq}}_{{frame}}"
            )
        where = f"{gt_json} (image_id {image_id!r})"
        city = safe_join(root / "leftImg8bit" / split, image_id.split("_")[0], source=where)
        return safe_join(city, f"{image_id}_leftImg8bit.png", source=where)

    classes, records = coco_panoptic_records(
        gt_json, gt_folder, image_path, how_to_prepare=how_to_prepare
    )
    source = DatasetSource(name, split, classes, records, gt_json, gt_folder)
    return _check_images(source, how_to_prepare)


def cityscapes(root: str | Path, split: str) -> DatasetSource:
    """Cityscapes after cityscapesscripts' conversion of `gtFine` to COCO panoptic (label ids)."""
    how = (
        f"Prepare Cityscapes under {root}: unpack gtFine_trainvaltest.zip and "
        f"leftImg8bit_trainvaltest.zip there (from cityscapes-dataset.com), then run "
        f"`pip install cityscapesscripts && CITYSCAPES_DATASET={root} csCreatePanopticImgs "
        f"--set-names {split}` (label ids, without --use-train-id)."
    )
    return _cityscapes_layout(Path(root), split, "cityscapes", how)


def synthetic(root: str | Path, split: str) -> DatasetSource:
    """The embedded synthetic street scenes (`python -m reference_model.synthetic`)."""
    how = (
        f"Generate it with `python -m reference_model.synthetic --output {root} "
        "--train 200 --val 50` (see --help)."
    )
    return _cityscapes_layout(Path(root), split, "synthetic", how)


VISTAS_SPLITS = {"train": "training", "val": "validation"}
VISTAS_VERSIONS = ("v1.2", "v2.0")


def vistas(root: str | Path, split: str, *, version: str = "v2.0") -> DatasetSource:
    """Mapillary Vistas research edition, panoptic annotations of version v1.2 or v2.0."""
    if version not in VISTAS_VERSIONS:
        raise ValueError(f"vistas version must be one of {VISTAS_VERSIONS}, got {version!r}")
    folder = VISTAS_SPLITS.get(split, split)
    how = (
        f"Unpack the Mapillary Vistas research edition (mapillary.com/dataset/vistas) into "
        f"{root}: it holds {folder}/images/*.jpg and {folder}/{version}/panoptic/."
    )
    base = _require_root(Path(root), "vistas", how) / folder
    json_name = "panoptic_2020.json" if version == "v2.0" else "panoptic_2018.json"
    candidates = [base / version / "panoptic"]
    if version == "v1.2":
        candidates.append(base / "panoptic")  # the v1.1/v1.2 release has no version folder
    panoptic = next((c for c in candidates if (c / json_name).is_file()), candidates[0])
    gt_json = panoptic / json_name

    def image_path(entry: Mapping[str, Any]) -> Path:
        name = entry.get("file_name", f"{entry['id']}.jpg")
        return safe_join(base / "images", name, source=f"{gt_json} images")

    classes, records = coco_panoptic_records(gt_json, panoptic, image_path, how_to_prepare=how)
    source = DatasetSource("vistas", folder, classes, records, gt_json, panoptic)
    return _check_images(source, how)


def coco(root: str | Path, split: str) -> DatasetSource:
    """COCO panoptic 2017 (133 classes: 80 things, 53 stuff)."""
    year_split = split if split.endswith("2017") else f"{split}2017"
    how = (
        f"Prepare COCO panoptic under {root}: unzip panoptic_annotations_trainval2017.zip "
        f"into {root}/annotations, then annotations/panoptic_{year_split}.zip in place, "
        f"and the images to {root}/{year_split}/ (cocodataset.org)."
    )
    root = _require_root(Path(root), "coco", how)
    gt_json = root / "annotations" / f"panoptic_{year_split}.json"
    gt_folder = root / "annotations" / f"panoptic_{year_split}"

    def image_path(entry: Mapping[str, Any]) -> Path:
        return safe_join(root / year_split, entry.get("file_name"), source=f"{gt_json} images")

    classes, records = coco_panoptic_records(gt_json, gt_folder, image_path, how_to_prepare=how)
    source = DatasetSource("coco", year_split, classes, records, gt_json, gt_folder)
    return _check_images(source, how)


def open_dataset(name: str, root: str | Path, split: str, **options: Any) -> DatasetSource:
    """The split `split` of dataset `name` (one of DATASETS) under `root`."""
    match name:
        case "cityscapes":
            return cityscapes(root, split, **options)
        case "synthetic":
            return synthetic(root, split, **options)
        case "vistas":
            return vistas(root, split, **options)
        case "idd":
            return idd(root, split, **options)
        case "coco":
            return coco(root, split, **options)
    raise ValueError(f"unknown dataset {name!r}; expected one of {DATASETS}")
