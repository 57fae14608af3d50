"""The reference model of Seamless Scene Segmentation (Porzi et al., CVPR 2019) and its harness.

Importing this package is cheap and does not import torch: the synthetic dataset
(`reference_model.synthetic`) is usable with numpy and Pillow alone. The model's entry points
are imported on first use:

    from reference_model import build_model, preset
    model = build_model(form="combined", config=preset("paper-cityscapes"))
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> module that defines it, imported lazily (PEP 562) so that torch loads only when needed
_LAZY = {
    "build_model": "reference_model.build",
    "parameter_groups": "reference_model.build",
    "preset": "reference_model.presets",
    "PRESETS": "reference_model.presets",
    "ModelConfig": "reference_model.config",
    "PanopticPrediction": "reference_model.prediction",
    "to_coco_panoptic": "reference_model.prediction",
    "panoptic_fusion": "reference_model.fusion",
    "LOSS_KEYS": "reference_model.losses",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'reference_model' has no attribute {name!r}")
