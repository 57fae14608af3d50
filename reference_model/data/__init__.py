"""The data pipeline: datasets on disk -> records -> decoded ground truth -> augmented,
normalised, padded batches with the targets of docs/contracts.md §2.

`open_dataset(name, root, split)` reads one of DATASETS; `train_loader` / `eval_loader` wrap it.
"""

from .batching import Batch, Collate
from .categories import IGNORE_INDEX, ClassMapping
from .config import DATA_PRESETS, AugmentationConfig, DataConfig
from .dataset import PanopticDataset, Sample, SampleKey
from .idd import idd
from .layouts import DATASETS, cityscapes, coco, open_dataset, synthetic, vistas
from .loader import eval_loader, open_split, train_loader
from .records import DatasetError, DatasetSource, PanopticRecord
from .sampler import TrainBatchSampler, shard
from .transforms import EvalTransform, TrainTransform, normalise, scaled_size

__all__ = [
    "DATASETS",
    "DATA_PRESETS",
    "IGNORE_INDEX",
    "AugmentationConfig",
    "Batch",
    "ClassMapping",
    "Collate",
    "DataConfig",
    "DatasetError",
    "DatasetSource",
    "EvalTransform",
    "PanopticDataset",
    "PanopticRecord",
    "Sample",
    "SampleKey",
    "TrainBatchSampler",
    "TrainTransform",
    "cityscapes",
    "coco",
    "eval_loader",
    "idd",
    "normalise",
    "open_dataset",
    "open_split",
    "scaled_size",
    "shard",
    "synthetic",
    "train_loader",
    "vistas",
]
