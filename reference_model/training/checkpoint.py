"""Checkpoints: written atomically, loaded with `torch.load(weights_only=True)`.

A checkpoint holds everything a resumed run needs to continue bit-for-bit: model, optimiser,
scheduler and grad-scaler states, every rank's random number generator states, the number of
iterations done and the run's configuration (as JSON types). Only tensors, numbers, strings,
lists, tuples and dicts are stored, so the safe loader reads it without allow-listing anything.
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1


def rng_state() -> dict[str, Any]:
    """This process's generator states: torch (CPU and CUDA), numpy's global, Python's."""
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # noqa: NPY002
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` captured."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(  # noqa: NPY002 (the global generator third-party code may use)
        (
            n["kind"],
            n["keys"].numpy().astype(np.uint32),
            n["pos"],
            n["has_gauss"],
            n["cached_gaussian"],
        )
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write `state` to `path` through a temporary file, fsync and rename: a crash at any
    moment leaves either the previous checkpoint or the new one, never a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with open(tmp, "wb") as f:
            torch.save({"version": CHECKPOINT_VERSION, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # make the rename itself durable
    finally:
        os.close(directory)
    log.info("checkpoint at iteration %s written to %s", state.get("iteration"), path)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with the safe (weights-only) unpickler; clear errors if unusable."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint there")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for torn or foreign files
        raise ValueError(
            f"{path}: not a readable checkpoint ({type(err).__name__}: {err})"
        ) from err
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: not a checkpoint of this trainer (version {CHECKPOINT_VERSION})")
    missing = {"model", "optimizer", "scheduler", "rng", "iteration", "config"} - set(state)
    if missing:
        raise ValueError(f"{path}: checkpoint lacks {sorted(missing)}")
    return state
