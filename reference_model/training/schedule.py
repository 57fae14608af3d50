"""The learning-rate schedule of the paper (§5): linear warm-up, then step decay.

lr(i) = lr * w(i) * gamma^(number of milestones <= i), with w(i) rising linearly from
`warmup_factor` at i = 0 to 1 at i = warmup_iterations. `i` counts optimiser steps taken.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


def lr_factor(
    iteration: int,
    *,
    milestones: Sequence[int],
    gamma: float,
    warmup_iterations: int,
    warmup_factor: float,
) -> float:
    """The multiplier of the base learning rate at `iteration` (0-based)."""
    warmup = 1.0
    if iteration < warmup_iterations:
        alpha = iteration / warmup_iterations
        warmup = warmup_factor + (1.0 - warmup_factor) * alpha
    return warmup * gamma ** bisect_right(list(milestones), iteration)


class WarmupMultiStepLR(LRScheduler):
    """`lr_factor` as a scheduler; its state is plain numbers (safe to load)."""

    def __init__(
        self,
        optimizer: Optimizer,
        *,
        milestones: Sequence[int],
        gamma: float = 0.1,
        warmup_iterations: int = 0,
        warmup_factor: float = 1 / 3,
        last_epoch: int = -1,
    ) -> None:
        self.milestones = list(milestones)
        self.gamma = gamma
        self.warmup_iterations = warmup_iterations
        self.warmup_factor = warmup_factor
        super().__init__(optimizer, last_epoch)

    def factor(self, iteration: int) -> float:
        return lr_factor(
            iteration,
            milestones=self.milestones,
            gamma=self.gamma,
            warmup_iterations=self.warmup_iterations,
            warmup_factor=self.warmup_factor,
        )

    def get_lr(self) -> list[float | Tensor]:
        return [base * self.factor(self.last_epoch) for base in self.base_lrs]
