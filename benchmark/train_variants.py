"""Variants of this checkout's CPU training step, side by side in one process (issue 13, item 1).

    python -m benchmark.train_variants --form combined --variants fp32,bf16,bf16-cl --rounds 8
    python -m benchmark.train_variants --conv1x1

The first form: the demo's tiny model (`tiny-synthetic`, one 2-image 192 x 384 synthetic
batch, SGD), one thread, one model per variant built from the same seed; 2 untimed steps per
variant, then `--rounds` rounds of one step of each variant, the order reversed every other
round; the median step time of each and its ratio to the first variant's (> 1: faster). Each
variant keeps its own random-number state (ROI sampling draws from it), so the losses of
float32 variants are comparable; they are printed as the largest difference of a loss term
relative to the first variant's total, per step. Variants (joined by `-`):

- `fp32`, `bf16`: float32, or the forward under CPU bfloat16 autocast (`cpu_autocast`);
- `cl`: the model and the images in channels_last memory format;
- `onednn`: oneDNN's float32 convolutions and matmuls allowed to compute in bfloat16
  (`torch.backends.mkldnn.{conv,matmul}.fp32_precision = "bf16"`);
- `opsloss`: the semantic loss by PyTorch ops (`upsampled_loss.ops_semantic_loss`: the logits
  upsampled by `F.interpolate`, then `losses.semantic_loss`), as before the one-pass CPU kernels
  (`--variants bf16-opsloss,bf16`: what they gain);
- `compile`: each body (ResNet + FPN: `backbone`) wrapped in `torch.compile(dynamic=False)`.

The first untimed step of each variant is printed too: for `compile`, its compile time (cold
or warm as inductor's on-disk cache is; empty it, `/tmp/torchinductor_$USER`, for a cold one).

`--conv1x1`: the demo model's unstrided 1x1 convolutions (the shapes of its forward), forward
+ backward, as PyTorch runs them (one thread: `_slow_conv2d`, the native GEMM path), as a
batched matmul, and with input and weight in channels_last (oneDNN); milliseconds and the sum.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any, cast

import torch
from torch import nn
from torch.nn import functional as F

from reference_model import model as model_module
from reference_model.build import build_model
from reference_model.presets import preset
from reference_model.upsampled_loss import ops_semantic_loss
from tests.reference_model.conftest import synthetic_batch

from .train_step import BATCH, FORMS, HEIGHT, WIDTH

KNOWN = {"fp32", "bf16", "cl", "onednn", "opsloss", "compile"}
KERNEL_LOSS = model_module.SEMANTIC_LOSS


# The demo model's unstrided 1x1 convolutions (combined, 192 x 384): input shape, out channels.
CONV1X1 = [
    ((2, 96, 48, 96), 32),
    ((2, 128, 48, 96), 19),
    ((2, 64, 48, 96), 32),
    ((2, 16, 48, 96), 64),
    ((2, 64, 48, 96), 12),
    ((2, 64, 48, 96), 3),
    ((2, 96, 24, 48), 32),
    ((12, 64, 28, 28), 8),
    ((2, 32, 24, 48), 64),
    ((2, 64, 12, 24), 64),
]


class Variant:
    def __init__(self, name: str, form: str) -> None:
        parts = set(name.split("-"))
        if not parts <= KNOWN or not parts & {"fp32", "bf16"}:
            raise ValueError(f"variant {name!r}: parts of {sorted(KNOWN)}, fp32 or bf16 among them")
        self.name = name
        self.bf16 = "bf16" in parts
        self.onednn = "onednn" in parts
        self.loss = ops_semantic_loss if "opsloss" in parts else KERNEL_LOSS
        torch.manual_seed(0)
        self.rng = torch.get_rng_state()
        self.model = build_model(form=form, config=preset("tiny-synthetic")).train()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        images, self.targets = synthetic_batch(BATCH, HEIGHT, WIDTH, seed=0)
        self.images = images
        if "cl" in parts:
            self.model = self.model.to(memory_format=torch.channels_last)
            self.images = images.contiguous(memory_format=torch.channels_last)
        if "compile" in parts:  # the combined model's one body, or independent's two
            for holder in [m for m in self.model.modules() if hasattr(m, "backbone")]:
                compiled = torch.compile(holder.get_submodule("backbone"), dynamic=False)
                holder.add_module("backbone", cast(nn.Module, compiled))  # an OptimizedModule

    def step(self) -> tuple[float, dict[str, float]]:
        precision = "bf16" if self.onednn else "none"
        torch.backends.mkldnn.conv.fp32_precision = precision  # type: ignore[attr-defined]
        torch.backends.mkldnn.matmul.fp32_precision = precision  # type: ignore[attr-defined]
        model_module.SEMANTIC_LOSS = self.loss
        torch.set_rng_state(self.rng)
        start = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            losses = self.model(self.images, self.targets)
        torch.stack([v.float() for v in losses.values()]).sum().backward()
        self.optimizer.step()
        elapsed = time.perf_counter() - start
        self.rng = torch.get_rng_state()
        return elapsed, {k: float(v.detach()) for k, v in losses.items()}


def compare(form: str, names: list[str], rounds: int) -> None:
    try:
        _compare(form, names, rounds)
    finally:
        model_module.SEMANTIC_LOSS = KERNEL_LOSS  # as the library has it


def _compare(form: str, names: list[str], rounds: int) -> None:
    variants = [Variant(n, form) for n in names]
    losses: dict[str, list[dict[str, float]]] = {v.name: [] for v in variants}
    times: dict[str, list[float]] = {v.name: [] for v in variants}
    first_step: dict[str, float] = {}
    for _ in range(2):
        for v in variants:
            elapsed, out = v.step()
            first_step.setdefault(v.name, elapsed)
            losses[v.name].append(out)
    for r in range(rounds):
        for v in variants if r % 2 == 0 else variants[::-1]:
            elapsed, out = v.step()
            times[v.name].append(elapsed)
            losses[v.name].append(out)
    first = names[0]
    base = statistics.median(times[first])
    for name in names:
        t = statistics.median(times[name])
        rel = [
            max(abs(x[k] - y[k]) for k in y) / sum(abs(val) for val in y.values())
            for x, y in zip(losses[name], losses[first], strict=True)
        ]
        print(
            f"{form:12s} {name:14s} {t:.3f} s  {first} / this {base / t:.2f}x  "
            f"first step {first_step[name]:.1f} s  "
            "loss diff / total per step: " + " ".join(f"{d:.0e}" for d in rel[:6]),
            flush=True,
        )


def _matmul_1x1(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    n, c, h, wd = x.shape
    y = torch.matmul(w.view(w.shape[0], c), x.reshape(n, c, h * wd)) + b.view(1, -1, 1)
    return y.view(n, -1, h, wd)


def _channels_last_1x1(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    cl = torch.channels_last
    return F.conv2d(x.contiguous(memory_format=cl), w.contiguous(memory_format=cl), b)


def conv1x1(rounds: int) -> None:
    ways: dict[str, Callable[[Any, Any, Any], torch.Tensor]] = {
        "conv2d": lambda x, w, b: F.conv2d(x, w, b),
        "matmul": _matmul_1x1,
        "channels_last": _channels_last_1x1,
    }
    total = dict.fromkeys(ways, 0.0)
    print("| input | out | " + " | ".join(f"{k} ms" for k in ways) + " |")
    print("|---|---|" + "---|" * len(ways))
    for shape, out in CONV1X1:
        x = torch.randn(shape, requires_grad=True)
        w = torch.randn(out, shape[1], 1, 1, requires_grad=True)
        b = torch.randn(out, requires_grad=True)
        times: dict[str, list[float]] = {k: [] for k in ways}
        for r in range(rounds + 2):
            for k in ways if r % 2 == 0 else list(ways)[::-1]:
                start = time.perf_counter()
                y = ways[k](x, w, b)
                y.backward(torch.ones_like(y))
                if r >= 2:
                    times[k].append(time.perf_counter() - start)
        meds = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        for k in ways:
            total[k] += meds[k]
        print(f"| {shape} | {out} | " + " | ".join(f"{meds[k]:.2f}" for k in ways) + " |")
    print("| sum | | " + " | ".join(f"{total[k]:.1f}" for k in ways) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--form", choices=FORMS, default="combined")
    parser.add_argument("--variants", default="fp32,bf16,bf16-cl,fp32-cl")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--conv1x1", action="store_true", help="instead: the 1x1 convolutions")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("need --rounds >= 1")
    torch.set_num_threads(1)
    print("load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    if args.conv1x1:
        conv1x1(args.rounds)
        return 0
    names = [n for n in args.variants.split(",") if n]
    try:
        compare(args.form, names, args.rounds)
    except ValueError as e:
        parser.error(str(e))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
