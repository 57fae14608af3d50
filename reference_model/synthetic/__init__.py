"""The embedded synthetic street-scene dataset: seeded, deterministic, 19 Cityscapes classes.

`python -m reference_model.synthetic --help` writes a dataset to disk; `make_sample` draws one
image in memory. Needs numpy, Pillow and panoptic_metrics only (no torch).
"""

from panoptic_metrics.io import ids_to_rgb  # the PNG encoding the dataset is written in

from .classes import CLASSES, STUFF, THINGS, SceneClass, coco_categories
from .export import SyntheticSample, generate, make_sample, panoptic_segments

__all__ = [
    "CLASSES",
    "STUFF",
    "THINGS",
    "SceneClass",
    "SyntheticSample",
    "coco_categories",
    "generate",
    "ids_to_rgb",
    "make_sample",
    "panoptic_segments",
]
