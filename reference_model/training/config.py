"""Configuration of a training run: optimiser, schedule, batch, checkpoints and logging.

Defaults are the paper's Cityscapes schedule (§5); where the authors' code (seamseg,
`scripts/configurations/cityscapes_r50.ini`) differs, the paper wins and the code's choice is
an option.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


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
    # §5.1: the main runs decay every parameter; the "no freeze|decay BN" variant drops weight
    # decay on the normalisation parameters (the authors' released configs do the same).
    weight_decay_norm: bool = True
    batch_size: int = 8  # §5: 8 images per batch (one per GPU on 8 GPUs); global, over ranks
    clip_grad_norm: float | None = None  # no clipping in the paper
    amp: bool = True  # mixed precision where CUDA is used; ignored on the CPU
    find_unused_parameters: bool = False  # DDP: set when a branch can skip parameters
    seed: int = 0  # model initialisation, data order and augmentation
    checkpoint_every: int = 2_000  # iterations between checkpoints (and one at the end)
    log_every: int = 10  # iterations between log.jsonl entries (the first and last always)
    tensorboard: bool = True  # also write TensorBoard events when tensorboard is installed
    progress: bool = True  # a tqdm progress bar with the time left, on rank 0

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


def to_jsonable(value: Any) -> Any:
    """A (nested) config dataclass as JSON types: dicts, lists, numbers, strings, None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot serialise {type(value).__name__} in a config: {value!r}")


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(value, Mapping):
            raise TypeError(f"{where}: expected an object for {hint.__name__}, got {value!r}")
        return from_jsonable(hint, value, where=where)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        return _coerce(value, next(a for a in args if a is not type(None)), where)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{where}: expected a list, got {value!r}")
        inner = args[0] if len(args) == 2 and args[1] is Ellipsis else None
        return tuple(_coerce(v, inner or args[k], f"{where}[{k}]") for k, v in enumerate(value))
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(hint, type) and not isinstance(value, hint):
        raise TypeError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def from_jsonable(cls: type[Any], data: Mapping[str, Any], *, where: str = "") -> Any:
    """Rebuild config dataclass `cls` from JSON types; unknown keys and wrong types are errors."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise KeyError(f"{where or cls.__name__}: unknown keys {unknown}; known: {sorted(names)}")
    kwargs = {k: _coerce(v, hints[k], f"{where or cls.__name__}.{k}") for k, v in data.items()}
    return cls(**kwargs)


def with_overrides(config: Any, overrides: list[str]) -> Any:
    """Apply `key=value` overrides (dotted keys into nested configs; values parsed as JSON,
    else taken as a string), checked by name and type like `from_jsonable`."""
    data = to_jsonable(config)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"an override must look like key=value, got {item!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        node = data
        *path, leaf = key.split(".")
        for part in path:
            if not isinstance(node.get(part), dict):
                raise KeyError(f"override {item!r}: {part!r} is not a nested config")
            node = node[part]
        if leaf not in node:
            raise KeyError(f"override {item!r}: unknown key {leaf!r}; known: {sorted(node)}")
        node[leaf] = value
    return from_jsonable(type(config), data)
