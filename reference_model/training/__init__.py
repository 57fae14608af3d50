"""Training: a plain loop with SGD, warm-up + step schedule, DDP through torchrun, AMP on CUDA,
atomic checkpoints and exact resume, and the run directory of docs/contracts.md §4."""

from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainingConfig
from .distributed import DistributedContext, setup, teardown
from .optim import make_optimizer
from .run_dir import RunDirectory
from .schedule import WarmupMultiStepLR, lr_factor
from .trainer import Trainer, TrainResult

__all__ = [
    "DistributedContext",
    "RunDirectory",
    "TrainResult",
    "Trainer",
    "TrainingConfig",
    "WarmupMultiStepLR",
    "load_checkpoint",
    "lr_factor",
    "make_optimizer",
    "save_checkpoint",
    "setup",
    "teardown",
]
