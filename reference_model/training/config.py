"""Configuration of a training run: optimiser, schedule, batch, checkpoints and logging.

Defaults are the paper's Cityscapes schedule (§5); where the authors' code (seamseg,
`scripts/configurations/cityscapes_r50.ini`) differs, the paper wins and the code's choice is
an option. Weight decay on the norm layers is a model switch (`ModelConfig.weight_decay_norm`,
docs/contracts.md §2), passed to the trainer with the model. Serialisation and overrides:
`reference_model.config` (`to_dict`, `from_dict`, `with_overrides`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class TrainingConfig:
    """How a model is trained (the model and the data have their own configs)."""

    iterations: int = 48_000  # §5: 48k iterations ...
    milestones: tuple[int, ...] = (36_000, 44_000)  # ... lr x0.1 after 36k and 44k
    gamma: float = 0.1
    lr: float = 0.01  # §5: learning rate 10^-2
    warmup_iterations: int = 200  # §5: linear warm-up over 200 iterations ...
    warmup_factor: float = 1 / 3  # ... from lr/3 to lr
    momentum: float = 0.9  # §5: SGD with momentum 0.9 [42]
    nesterov: bool = False  # the paper says SGD; the authors' code uses Nesterov momentum
    weight_decay: float = 1e-4  # [42]: 10^-4
    batch_size: int = 8  # §5: 8 images per batch (one per GPU on 8 GPUs); global, over ranks
    clip_grad_norm: float | None = None  # no clipping in the paper
    amp: bool = True  # mixed precision where CUDA is used; ignored on the CPU
    # bfloat16 autocast of the forward on the CPU (convolutions and matmuls in bfloat16, the
    # losses and ROIAlign in float32; no loss scaling needed); off: float32 throughout
    cpu_autocast: bool = False
    # cuDNN's autotuner on CUDA (`torch.backends.cudnn.benchmark`): it times every algorithm
    # of every convolution at each new input shape. The multi-scale training pads each batch
    # to one of many sizes, so it re-tunes at most steps (Detectron2's CUDNN_BENCHMARK is off
    # by default for the same reason); on for fixed-size training. Ignored on the CPU.
    cudnn_benchmark: bool = False
    find_unused_parameters: bool = False  # DDP: set when a branch can skip parameters
    seed: int = 0  # model initialisation, data order and augmentation
    checkpoint_every: int = 2_000  # iterations between checkpoints (and one at the end)
    log_every: int = 10  # iterations between log.jsonl entries (the first and last always)
    tensorboard: bool = True  # also write TensorBoard events when tensorboard is installed

    def __post_init__(self) -> None:
        positive = ("iterations", "lr", "batch_size", "checkpoint_every", "log_every")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if list(self.milestones) != sorted(self.milestones):
            raise ValueError(f"milestones must be increasing, got {self.milestones}")
        if self.warmup_iterations < 0 or not 0 < self.warmup_factor <= 1:
            raise ValueError(
                "need warmup_iterations >= 0 and 0 < warmup_factor <= 1, got "
                f"{self.warmup_iterations}, {self.warmup_factor}"
            )
        if self.clip_grad_norm is not None and self.clip_grad_norm <= 0:
            raise ValueError(f"clip_grad_norm must be > 0 or None, got {self.clip_grad_norm}")

    def scaled(self, factor: float) -> TrainingConfig:
        """The schedule stretched by `factor` (iterations, milestones, warm-up, intervals)."""

        def s(n: int) -> int:
            return max(1, round(n * factor))

        return dataclasses.replace(
            self,
            iterations=s(self.iterations),
            milestones=tuple(s(m) for m in self.milestones),
            warmup_iterations=round(self.warmup_iterations * factor),
            checkpoint_every=s(self.checkpoint_every),
        )

    def with_batch_size(self, batch_size: int) -> TrainingConfig:
        """This schedule for another global batch by the linear scaling rule (Goyal et al.,
        2017): the same number of images seen, so the iterations, milestones, warm-up and
        checkpoint interval scale by `self.batch_size / batch_size`, and the learning rate by
        `batch_size / self.batch_size`. The paper's 8 images, lr 0.01 and 48k iterations on
        4 GPUs become 4 images, lr 0.005 and 96k iterations (lr x0.1 at 72k and 88k)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        ratio = batch_size / self.batch_size
        return dataclasses.replace(
            self.scaled(1 / ratio), batch_size=batch_size, lr=self.lr * ratio
        )
