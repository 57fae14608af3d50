"""The CUDA paths in one short run, for a machine with a GPU (no CI machine has one).

`python -m benchmark.gpu_check [--steps 10] [--size 512x1024]` prints the device and, for
`combined`, `independent` and torchvision's Mask R-CNN (`maskrcnn_resnet50_fpn`, no
pretrained weights), the median wall time of a training step with float16 autocast and a
gradient scaler (the trainer's AMP), 2 synthetic images of the given size, after two warm-up
steps, with the step's losses, so that a NaN or an overflow shows. Our two forms use the
paper's Cityscapes configuration (`paper-cityscapes`: ResNet-50 + FPN, as torchvision's), both
from scratch (no download). `--profile N` then runs torch.profiler over N steps of combined
and prints its ten ops with the most self device time. The training loop, the evaluation and
the report on CUDA are exercised by the demo itself (`python -m benchmark.demo --iterations
N`), which runs on CUDA when it is there.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import statistics
import time
from dataclasses import replace
from typing import Any


def _batch(n: int, height: int, width: int, device: Any) -> tuple[Any, list[dict[str, Any]]]:
    from tests.reference_model.conftest import synthetic_batch

    images, targets = synthetic_batch(n, height, width, seed=0)
    moved = [{k: v.to(device) for k, v in t.items()} for t in targets]
    return images.to(device), moved


def _torchvision_targets(targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our targets as torchvision's detection models take them: labels from 1 (0 is the
    background), masks as uint8, no semantic map."""
    import torch

    return [
        {
            "boxes": t["boxes"].float(),
            "labels": t["labels"] + 1,
            "masks": t["masks"].to(torch.uint8),
        }
        for t in targets
    ]


def _stepper(model: Any, run: Any) -> Any:
    """One training step of `model` as the trainer takes it on CUDA (float16 autocast, a
    gradient scaler; plain float32 on a dry run), `run()` giving its loss dict; waits for the
    GPU before it returns the losses."""
    import torch

    cuda = torch.cuda.is_available()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scaler = torch.amp.GradScaler("cuda" if cuda else "cpu", enabled=cuda)

    def step() -> dict[str, Any]:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda" if cuda else "cpu", dtype=torch.float16, enabled=cuda):
            out = run()
        scaler.scale(torch.stack([v.float() for v in out.values()]).sum()).backward()
        scaler.step(optimizer)
        scaler.update()
        if cuda:
            torch.cuda.synchronize()
        return out  # type: ignore[no-any-return]

    return step


def _time_steps(model: Any, run: Any, steps: int) -> tuple[float, dict[str, float]]:
    """Median wall time of `steps` steps after two untimed ones, and the last step's losses."""
    import torch

    step = _stepper(model, run)
    times: list[float] = []
    losses: dict[str, float] = {}
    for i in range(steps + 2):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = step()
        if i >= 2:
            times.append(time.perf_counter() - start)
        losses = {k: round(float(v.detach()), 4) for k, v in out.items()}
    return statistics.median(times), losses


def _profile_combined(
    config: Any, images: Any, targets: list[dict[str, Any]], steps: int, device: Any
) -> None:
    """torch.profiler over `steps` training steps of combined (after one untimed step): the
    ten ops with the most self device time (CPU time on the CPU), as PyTorch's table."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from reference_model.build import build_model

    cuda = device.type == "cuda"
    torch.manual_seed(0)
    model = build_model(form="combined", config=config).to(device).train()
    step = _stepper(model, lambda: model(images, targets))
    step()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
    key = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    print(f"combined, {steps} profiled steps, ops by self {'CUDA' if cuda else 'CPU'} time:")
    print(prof.key_averages().table(sort_by=key, row_limit=10))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.gpu_check", description=__doc__)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--size", default="512x1024", help="HxW of the 2 training images")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="then torch.profiler over N steps of combined: its ops by device time",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="on the CPU, without autocast (checks the script)"
    )
    args = parser.parse_args(argv)
    import torch
    import torchvision

    from reference_model.build import build_model
    from reference_model.presets import preset
    from reference_model.synthetic import THINGS

    if not (torch.cuda.is_available() or args.dry_run):
        raise SystemExit("no CUDA device: this check is for a machine with a GPU (or --dry-run)")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else "CPU (dry run)"
    vision = importlib.metadata.version("torchvision")
    print(f"torch {torch.__version__}, torchvision {vision}, {name}")
    height, width = (int(x) for x in args.size.split("x"))
    images, targets = _batch(2, height, width, device)
    # no download here: from scratch, as torchvision's model below (weights=None)
    paper = preset("paper-cityscapes")
    config = replace(paper, body=replace(paper.body, weights="scratch"))
    results = {}
    for form in ("combined", "independent"):
        torch.manual_seed(0)
        model = build_model(form=form, config=config).to(device).train()
        results[form] = _time_steps(model, lambda m=model: m(images, targets), args.steps)
        del model
    torch.manual_seed(0)
    tv = torchvision.models.detection.maskrcnn_resnet50_fpn(
        weights=None,
        weights_backbone=None,
        num_classes=len(THINGS) + 1,
        min_size=height,  # no resizing: the same pixels as ours
        max_size=width,
    )
    tv = tv.to(device).train()
    tv_targets = _torchvision_targets(targets)
    tv_images = list(images)
    results["torchvision maskrcnn_resnet50_fpn"] = _time_steps(
        tv, lambda: tv(tv_images, tv_targets), args.steps
    )
    reference = results["torchvision maskrcnn_resnet50_fpn"][0]
    print(f"training step, 2 images of {height}x{width}, float16 autocast, median of {args.steps}:")
    for name, (seconds, losses) in results.items():
        print(
            f"  {name}: {seconds * 1e3:.1f} ms ({seconds / reference:.2f}x torchvision); "
            f"losses {losses}"
        )
    if args.profile:
        _profile_combined(config, images, targets, args.profile, device)
    if device.type == "cuda":
        print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
