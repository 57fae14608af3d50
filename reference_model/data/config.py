"""Configuration of the data pipeline: which dataset, and the paper's augmentation.

Defaults are the paper's Cityscapes setting (§5); `DATA_PRESETS` fills in the other datasets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .layouts import DATASETS, VISTAS_VERSIONS


@dataclass(frozen=True)
class AugmentationConfig:
    """How images are scaled and flipped, in training and at test time."""

    short_side: int = 1024  # §5: training images get a shortest side of floor(1024 t) ...
    scale_range: tuple[float, float] = (0.5, 2.0)  # ... with t uniform in [0.5, 2.0]
    flip: bool = True  # §5: random horizontal flip (probability 1/2)
    test_short_side: int = 1024  # §5: test images scaled to a 1024 shortest side
    max_long_side: int | None = None  # not in the paper; the authors' code caps it at 4096
    size_divisor: int = 32  # batches are zero-padded to a multiple of this (FPN strides)

    def __post_init__(self) -> None:
        lo, hi = self.scale_range
        if not 0 < lo <= hi:
            raise ValueError(f"scale_range must satisfy 0 < low <= high, got {self.scale_range}")
        for name in ("short_side", "test_short_side", "size_divisor"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_long_side is not None and self.max_long_side < 1:
            raise ValueError(f"max_long_side must be >= 1 or None, got {self.max_long_side}")


@dataclass(frozen=True)
class DataConfig:
    """The dataset of a run and how it is read."""

    dataset: str = "cityscapes"  # one of layouts.DATASETS
    root: str = "data/cityscapes"  # the dataset folder (see layouts.py for each layout)
    train_split: str = "train"
    val_split: str = "val"
    vistas_version: str = "v2.0"  # Mapillary Vistas annotations: "v1.2" (the paper's) or "v2.0"
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    workers: int = 2  # DataLoader worker processes per rank (0 = load in the main process)

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        if self.vistas_version not in VISTAS_VERSIONS:
            raise ValueError(
                f"vistas_version must be one of {VISTAS_VERSIONS}, got {self.vistas_version!r}"
            )
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")

    @property
    def options(self) -> dict[str, str]:
        """Keyword options of `open_dataset` for this dataset."""
        return {"version": self.vistas_version} if self.dataset == "vistas" else {}


# §5.3: Vistas trains at floor(1920 t), t in [0.8, 1.25]; tested at 1920 (authors' config).
_VISTAS = AugmentationConfig(short_side=1920, scale_range=(0.8, 1.25), test_short_side=1920)

DATA_PRESETS: dict[str, DataConfig] = {
    "cityscapes": DataConfig(),
    "idd": DataConfig(dataset="idd", root="data/idd"),  # §5.2: the Cityscapes setting
    "vistas": DataConfig(
        dataset="vistas",
        root="data/vistas",
        train_split="training",
        val_split="validation",
        vistas_version="v1.2",
        augmentation=_VISTAS,
    ),
    "coco": DataConfig(dataset="coco", root="data/coco"),
}
