"""Training: a plain loop with SGD, warm-up + step schedule, DDP through torchrun, AMP on CUDA,
atomic checkpoints and exact resume, and the run directory of docs/contracts.md §4."""

from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainingConfig, from_jsonable, to_jsonable, with_overrides
from .distributed import DistributedContext, setup, teardown
from .optim import make_optimizer, split_norm_parameters
from .run_dir import RunDirectory, write_json_atomic
from .schedule import WarmupMultiStepLR, lr_factor
from .trainer import LOSS_KEYS, Trainer, TrainResult

__all__ = [
    "LOSS_KEYS",
    "DistributedContext",
    "RunDirectory",
    "TrainResult",
    "Trainer",
    "TrainingConfig",
    "WarmupMultiStepLR",
    "from_jsonable",
    "load_checkpoint",
    "lr_factor",
    "make_optimizer",
    "save_checkpoint",
    "setup",
    "split_norm_parameters",
    "teardown",
    "to_jsonable",
    "with_overrides",
    "write_json_atomic",
]
