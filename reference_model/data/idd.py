"""The Indian Driving Dataset (IDD) at level 3: 26 classes, 17 stuff and 9 things (paper §5.2).

IDD ships polygons; the AutoNUE tools (github.com/AutoNUE/public-code,
`preperation/createLabels.py --id-type level3Id`) draw them into
`gtFine/{split}/{seq}/{frame}_gtFine_instancelevel3Ids.png`, with the Cityscapes encoding:
thing instances `level3Id * 1000 + k`, stuff and crowd groups the bare level-3 id, void 255.
The classes are the AutoNUE converter's: per level-3 id, the first label of
`helpers/anue_labels.py` that is evaluated (so level 12 is "vehicle fallback").
"""

from __future__ import annotations

from pathlib import Path

from panoptic_metrics import Category, CategorySet
from panoptic_metrics.readers.cityscapes import CityscapesSource

from .categories import ClassMapping
from .records import DatasetError, DatasetSource, PanopticRecord

# (level3Id, name, isthing, color), from AutoNUE's helpers/anue_labels.py.
IDD_LEVEL3: tuple[tuple[int, str, bool, tuple[int, int, int]], ...] = (
    (0, "road", False, (128, 64, 128)),
    (1, "parking", False, (250, 170, 160)),
    (2, "sidewalk", False, (244, 35, 232)),
    (3, "rail track", False, (230, 150, 140)),
    (4, "person", True, (220, 20, 60)),
    (5, "rider", True, (255, 0, 0)),
    (6, "motorcycle", True, (0, 0, 230)),
    (7, "bicycle", True, (119, 11, 32)),
    (8, "autorickshaw", True, (255, 204, 54)),
    (9, "car", True, (0, 0, 142)),
    (10, "truck", True, (0, 0, 70)),
    (11, "bus", True, (0, 60, 100)),
    (12, "vehicle fallback", True, (136, 143, 153)),
    (13, "curb", False, (220, 190, 40)),
    (14, "wall", False, (102, 102, 156)),
    (15, "fence", False, (190, 153, 153)),
    (16, "guard rail", False, (180, 165, 180)),
    (17, "billboard", False, (174, 64, 67)),
    (18, "traffic sign", False, (220, 220, 0)),
    (19, "traffic light", False, (250, 170, 30)),
    (20, "pole", False, (153, 153, 153)),
    (21, "obs-str-bar-fallback", False, (169, 187, 214)),
    (22, "building", False, (70, 70, 70)),
    (23, "bridge", False, (150, 100, 100)),
    (24, "vegetation", False, (107, 142, 35)),
    (25, "sky", False, (70, 130, 180)),
)

SUFFIX = "_gtFine_instancelevel3Ids.png"


def idd_classes() -> ClassMapping:
    """The 26 level-3 classes (contiguous order: stuff first)."""
    return ClassMapping(CategorySet(tuple(Category(*row) for row in IDD_LEVEL3)))


def _image_for(root: Path, split: str, seq: str, frame: str) -> Path:
    folder = root / "leftImg8bit" / split / seq
    for ext in (".png", ".jpg"):
        path = folder / f"{frame}_leftImg8bit{ext}"
        if path.is_file():
            return path
    return folder / f"{frame}_leftImg8bit.png"  # reported as missing by the caller


def idd(root: str | Path, split: str) -> DatasetSource:
    """IDD segmentation (level-3 ids), read from the AutoNUE instance-id PNGs."""
    root = Path(root)
    how = (
        f"Unpack IDD Segmentation (idd.insaan.iiit.ac.in) into {root} (leftImg8bit/, gtFine/) "
        "and draw the level-3 instance PNGs with github.com/AutoNUE/public-code: "
        f"`python preperation/createLabels.py --datadir {root} --id-type level3Id "
        "--instance True --panoptic False`."
    )
    if not root.is_dir():
        raise DatasetError(f"idd: the data root {root} does not exist. {how}")
    gt_split = root / "gtFine" / split
    pngs = sorted(gt_split.glob(f"*/*{SUFFIX}"))
    if not pngs:
        raise DatasetError(f"idd: no *{SUFFIX} files under {gt_split}. {how}")
    classes, records = idd_classes(), []
    for png in pngs:
        seq, frame = png.parent.name, png.name[: -len(SUFFIX)]
        image_id = f"{seq}_{frame}"
        ground_truth = CityscapesSource(png, image_id, classes.categories)  # 255 is void
        records.append(PanopticRecord(image_id, _image_for(root, split, seq, frame), ground_truth))
    missing = [r.image_path for r in records if not r.image_path.is_file()]
    if missing:
        raise DatasetError(
            f"idd {split}: {len(missing)} of {len(records)} images are missing, "
            f"e.g. {missing[0]}. {how}"
        )
    return DatasetSource("idd", split, classes, tuple(records), None, None)
