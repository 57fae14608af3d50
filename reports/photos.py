"""The photos under the panels' overlays: any image Pillow reads, refused when oversized.

Panoptic PNGs and JSON are read by panoptic_metrics (`load_coco_panoptic`, which checks
names, ids and sizes); only the photos, which the metrics never see, are read here. A bad
photo raises panoptic_metrics' `PanopticInputError` naming the file, as its readers do.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from panoptic_metrics import PanopticInputError
from PIL import Image

# Refuse photos above this many pixels before decoding them (Cityscapes is 1024x2048 = 2.1 Mpx,
# Vistas at most about 20 Mpx).
MAX_PIXELS = 64 * 1024 * 1024


def _open(path: Path) -> Image.Image:
    if not path.is_file():
        raise PanopticInputError(str(path), "file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            if image.width * image.height > MAX_PIXELS:
                raise PanopticInputError(
                    str(path), f"is {image.width}x{image.height}, over the {MAX_PIXELS} pixel limit"
                )
            image.load()
    except PanopticInputError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as err:
        raise PanopticInputError(str(path), f"is not a readable image ({err})") from None
    return image


def read_rgb(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """An image as (H, W, 3) uint8; resized to `size` (H, W) if given and different."""
    image = _open(path).convert("RGB")
    if size is not None and (image.height, image.width) != size:
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)
