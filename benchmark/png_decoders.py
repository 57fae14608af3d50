"""The PNG-to-segment-id decoders the speed benchmark compares, each as `decode(path) -> ids`.

Ours (`panoptic_metrics.png`: fused with each zlib, and its Pillow path) against the other
candidates of issue 3 (pyspng, imagecodecs, OpenCV, each followed by our numba RGB -> id
pass) and panopticapi's own way (Pillow, then `rgb2id` in numpy). A candidate whose package
is missing is reported as unavailable.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from panoptic_metrics.kernels import rgb_to_ids
from panoptic_metrics.png import PngIdDecoder
from panoptic_metrics.png.inflate import available as zlib_available
from PIL import Image

Decode = Callable[[Path], np.ndarray]


def _fused(zlib: str) -> Decode:
    decoder = PngIdDecoder(zlib=zlib)
    return decoder.decode


def _with_ids(load: Callable[[Path], np.ndarray]) -> Decode:
    buffer = np.empty(0, dtype=np.uint32)

    def decode(path: Path) -> np.ndarray:
        nonlocal buffer
        rgb = load(path)
        size = rgb.shape[0] * rgb.shape[1]
        if buffer.size < size:
            buffer = np.empty(size, dtype=np.uint32)
        ids = buffer[:size].reshape(rgb.shape[:2])
        rgb_to_ids(rgb, ids)
        return ids

    return decode


def _pyspng() -> Decode:
    import pyspng

    return _with_ids(lambda path: pyspng.load(path.read_bytes()))


def _opencv() -> Decode:
    import cv2

    cv2.setNumThreads(1)

    def load(path: Path) -> np.ndarray:
        bgr = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_UNCHANGED)
        if bgr is None:
            raise ValueError(f"{path}: OpenCV cannot decode it as an image")
        return np.ascontiguousarray(bgr[..., 2::-1])

    return _with_ids(load)


def _imagecodecs() -> Decode:
    import imagecodecs

    out: np.ndarray = np.empty(0, dtype=np.uint8)  # reused while the image size stays

    def load(path: Path) -> np.ndarray:
        nonlocal out
        data = path.read_bytes()
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        if out.shape != (height, width, 3):
            out = np.empty((height, width, 3), dtype=np.uint8)
        return imagecodecs.png_decode(data, out=out)

    return _with_ids(load)


def _panopticapi() -> Decode:
    def decode(path: Path) -> np.ndarray:
        color = np.array(Image.open(path), dtype=np.uint32)  # panopticapi's evaluation.py
        return color[:, :, 0] + 256 * color[:, :, 1] + 256 * 256 * color[:, :, 2]

    return decode


def candidates() -> dict[str, Callable[[], Decode] | str]:
    """Name -> a factory of the decoder, or the reason it is unavailable."""
    out: dict[str, Callable[[], Decode] | str] = {}
    for name in ("zlib-ng", "isal", "zlib"):
        ok = name in zlib_available()
        out[f"ours fused ({name})"] = partial(_fused, name) if ok else f"{name} missing"
    out["ours pillow"] = lambda: PngIdDecoder(backend="pillow").decode
    modules = {"pyspng + ids": "pyspng", "opencv + ids": "cv2", "imagecodecs + ids": "imagecodecs"}
    factories = {
        "pyspng + ids": _pyspng,
        "opencv + ids": _opencv,
        "imagecodecs + ids": _imagecodecs,
    }
    for name, module in modules.items():
        found = importlib.util.find_spec(module) is not None
        out[name] = factories[name] if found else f"{module} is not installed"
    out["panopticapi (Pillow + rgb2id)"] = _panopticapi
    return out
