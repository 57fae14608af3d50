"""The 19 Cityscapes evaluation classes, with their Cityscapes label ids and colours.

Sources: the Cityscapes label table (cityscapesscripts/helpers/labels.py) for names, ids,
train ids, categories and colours; the paper's §5.1 for the split (11 stuff, 8 things).
The test suite checks this table against cityscapesscripts' own.
"""

from __future__ import annotations

from dataclasses import dataclass

# The Cityscapes instance-id encoding: a thing instance is label_id * INSTANCE_DIVISOR + k (k
# from 0); stuff pixels and crowd groups carry the bare label id.
from panoptic_metrics.readers.cityscapes import INSTANCE_DIVISOR as INSTANCE_DIVISOR


@dataclass(frozen=True)
class SceneClass:
    """One evaluated class: `label_id` is the Cityscapes `id`, `train_id` its contiguous index."""

    name: str
    label_id: int
    train_id: int
    supercategory: str
    isthing: bool
    color: tuple[int, int, int]


CLASSES: tuple[SceneClass, ...] = (
    SceneClass("road", 7, 0, "flat", False, (128, 64, 128)),
    SceneClass("sidewalk", 8, 1, "flat", False, (244, 35, 232)),
    SceneClass("building", 11, 2, "construction", False, (70, 70, 70)),
    SceneClass("wall", 12, 3, "construction", False, (102, 102, 156)),
    SceneClass("fence", 13, 4, "construction", False, (190, 153, 153)),
    SceneClass("pole", 17, 5, "object", False, (153, 153, 153)),
    SceneClass("traffic light", 19, 6, "object", False, (250, 170, 30)),
    SceneClass("traffic sign", 20, 7, "object", False, (220, 220, 0)),
    SceneClass("vegetation", 21, 8, "nature", False, (107, 142, 35)),
    SceneClass("terrain", 22, 9, "nature", False, (152, 251, 152)),
    SceneClass("sky", 23, 10, "sky", False, (70, 130, 180)),
    SceneClass("person", 24, 11, "human", True, (220, 20, 60)),
    SceneClass("rider", 25, 12, "human", True, (255, 0, 0)),
    SceneClass("car", 26, 13, "vehicle", True, (0, 0, 142)),
    SceneClass("truck", 27, 14, "vehicle", True, (0, 0, 70)),
    SceneClass("bus", 28, 15, "vehicle", True, (0, 60, 100)),
    SceneClass("train", 31, 16, "vehicle", True, (0, 80, 100)),
    SceneClass("motorcycle", 32, 17, "vehicle", True, (0, 0, 230)),
    SceneClass("bicycle", 33, 18, "vehicle", True, (119, 11, 32)),
)

BY_NAME: dict[str, SceneClass] = {c.name: c for c in CLASSES}
BY_LABEL_ID: dict[int, SceneClass] = {c.label_id: c for c in CLASSES}
STUFF: tuple[SceneClass, ...] = tuple(c for c in CLASSES if not c.isthing)
THINGS: tuple[SceneClass, ...] = tuple(c for c in CLASSES if c.isthing)

# Void labels the generator draws (Cityscapes ids that are ignored in evaluation).
UNLABELED = 0
EGO_VEHICLE = 1
STATIC = 4
RAIL_TRACK = 10
VOID_LABEL_IDS = (UNLABELED, EGO_VEHICLE, STATIC, RAIL_TRACK)


def coco_categories() -> list[dict[str, object]]:
    """The `categories` list of a COCO-panoptic JSON, as cityscapesscripts writes it."""
    return [
        {
            "id": c.label_id,
            "name": c.name,
            "color": list(c.color),
            "supercategory": c.supercategory,
            "isthing": int(c.isthing),
        }
        for c in CLASSES
    ]
