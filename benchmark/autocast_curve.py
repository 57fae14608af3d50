"""Does CPU bfloat16 autocast change what the tiny model learns? Loss curves, fp32 against bf16.

    python -m benchmark.autocast_curve --form combined --iterations 100

Trains the demo's tiny model (`tiny-synthetic`, 2-image 192 x 384 synthetic batches cycled
over `--batches` scenes, SGD with the demo's lr 0.02, momentum 0.9, 25 warm-up iterations) from
the same seed twice, in float32 and under `torch.autocast("cpu", dtype=torch.bfloat16)` (what
`TrainingConfig.cpu_autocast` does), one thread, and prints the mean total loss over windows
of 10 iterations for both and the step time of each.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from reference_model.build import build_model
from reference_model.presets import preset
from tests.reference_model.conftest import synthetic_batch

from .train_step import sgd_step


def train(form: str, iterations: int, batches: int, *, bf16: bool) -> tuple[list[float], float]:
    """Total loss of every iteration and the median step time."""
    torch.manual_seed(0)
    model = build_model(form=form, config=preset("tiny-synthetic")).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, weight_decay=1e-4)
    data = [synthetic_batch(2, 192, 384, seed=s) for s in range(batches)]
    losses, times = [], []
    for i in range(iterations):
        for group in optimizer.param_groups:  # the demo's linear warm-up from lr / 3
            group["lr"] = 0.02 * (1 / 3 + (1 - 1 / 3) * min(1.0, i / 25))
        images, targets = data[i % batches]
        start = time.perf_counter()
        out = sgd_step(model, optimizer, images, targets, bf16=bf16)
        times.append(time.perf_counter() - start)
        losses.append(sum(out.values()))
    return losses, statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--form", choices=("combined", "independent"), default="combined")
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    fp32, t32 = train(args.form, args.iterations, args.batches, bf16=False)
    bf16, t16 = train(args.form, args.iterations, args.batches, bf16=True)
    print(f"{args.form}: median step fp32 {t32:.3f} s, bf16 {t16:.3f} s ({t32 / t16:.2f}x)")
    print("iterations   fp32    bf16")
    for lo in range(0, args.iterations, 10):
        a, b = fp32[lo : lo + 10], bf16[lo : lo + 10]
        print(
            f"{lo + 1:4d}-{lo + len(a):<4d}  {statistics.mean(a):6.3f}  {statistics.mean(b):6.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"fp32": fp32, "bf16": bf16, "t32": t32, "t16": t16}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
