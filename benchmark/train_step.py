"""Training-step speed of the demo's tiny model on the CPU, this checkout against a base commit.

    python -m benchmark.train_step --base 0ec74c4 --rounds 5

Extracts the base commit (`git archive`, no worktree is registered) under
`data/benchmark/train-step/<sha>/`, then for each round and each form (`combined`,
`independent`; preset `tiny-synthetic`, a 2-image 192 x 384 synthetic batch, as in the demo)
runs one child process per checkout, alternating which goes first. Each child runs with ONE
thread (`torch.set_num_threads(1)`, as the demo's two side-by-side runs do), builds the seeded
model, takes `--warmup` untimed SGD steps and times `--steps` more; its median is that round's
time. The summary is the median over rounds per checkout and form, the ratio base / this
(> 1: this checkout is faster), and the median and range of the per-round ratios (the two
children of a round ran back to back, so on a loaded machine that is the steadier figure).

The children also report the losses of their first steps: in float32 the training must stay
the same, so the parent prints the largest relative difference of the losses of the two
checkouts at each step (summation order may differ, so it is a float tolerance, not equality).
`--autocast bf16` runs this checkout's forward under CPU bfloat16 autocast
(`TrainingConfig.cpu_autocast`), the base in float32 as it always was (`--base-autocast bf16`:
the base under autocast too, to compare two commits that both train that way).

The child is this file run as a script with the checkout first on `sys.path`, so it uses only
what both checkouts have: `reference_model.build`, `reference_model.presets` and the tests'
synthetic batch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

HEIGHT, WIDTH, BATCH = 192, 384, 2  # the demo's image size and batch
FORMS = ("combined", "independent")
ROOT = Path(__file__).resolve().parent.parent


def sgd_step(
    model: Any, optimizer: Any, images: Any, targets: Any, *, bf16: bool
) -> dict[str, float]:
    """One training step of `model` (bfloat16 autocast on the CPU when `bf16`): its losses."""
    import torch

    optimizer.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        losses = model(images, targets)
    total = torch.stack([v.float() for v in losses.values()]).sum()
    total.backward()
    optimizer.step()
    return {k: float(v.detach()) for k, v in losses.items()}


def _child(args: argparse.Namespace) -> None:
    """Runs in the checkout under test: time `steps` training steps of one form."""
    import time

    import torch

    torch.set_num_threads(1)
    from reference_model.build import build_model
    from reference_model.presets import preset
    from tests.reference_model.conftest import synthetic_batch

    torch.manual_seed(0)
    model = build_model(form=args.form, config=preset("tiny-synthetic")).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images, targets = synthetic_batch(BATCH, HEIGHT, WIDTH, seed=0)
    bf16 = args.autocast == "bf16"

    def step() -> dict[str, float]:
        return sgd_step(model, optimizer, images, targets, bf16=bf16)

    losses = []
    for _ in range(args.warmup):
        losses.append(step())
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        out = step()
        times.append(time.perf_counter() - start)
        losses.append(out)
    print(json.dumps({"times": times, "losses": losses}))


def profile(form: str, *, steps: int, warmup: int, autocast: str, top: int) -> None:
    """Print the `top` ops by self CPU time over `steps` steps of `form` (one thread), as a
    Markdown table: ms per step and share of the step."""
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from reference_model.build import build_model
    from reference_model.presets import preset
    from tests.reference_model.conftest import synthetic_batch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model(form=form, config=preset("tiny-synthetic")).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images, targets = synthetic_batch(BATCH, HEIGHT, WIDTH, seed=0)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast == "bf16"):
            losses = model(images, targets)
        torch.stack([v.float() for v in losses.values()]).sum().backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in events)
    print(f"\n{form} ({autocast}): {total / steps / 1000:.0f} ms per step under the profiler")
    print("| op | ms / step | share |\n|---|---|---|")
    for e in events[:top]:
        share = e.self_cpu_time_total / total
        print(f"| `{e.key}` | {e.self_cpu_time_total / steps / 1000:.1f} | {share:.1%} |")


def extract(base: str, cache: Path) -> tuple[Path, str]:
    """The base commit's tree under `cache/<full sha>` (extracted once)."""
    sha = subprocess.run(
        ["git", "rev-parse", "--verify", f"{base}^{{commit}}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    target = cache / sha
    if not (target / "reference_model").is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            archive = Path(tmp) / "tree.tar"
            subprocess.run(
                ["git", "archive", "--format=tar", "-o", str(archive), sha], cwd=ROOT, check=True
            )
            out = Path(tmp) / "tree"
            with tarfile.open(archive) as tar:
                tar.extractall(out, filter="data")
            out.rename(target)
    return target, sha


def run_child(
    checkout: Path, form: str, *, steps: int, warmup: int, autocast: str
) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(checkout / "metrics" / "src"), str(checkout)])
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--form", form]
    command += ["--steps", str(steps), "--warmup", str(warmup), "--autocast", autocast]
    done = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{checkout}: the {form} child failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _max_rel(a: list[dict[str, float]], b: list[dict[str, float]]) -> list[float]:
    """Per step, the largest difference of a loss term relative to the total loss (a term
    near zero, such as `roi_box` early on, would make a per-term ratio meaningless)."""
    out = []
    for x, y in zip(a, b, strict=False):
        total = sum(abs(v) for v in y.values())
        out.append(max(abs(x[k] - y[k]) for k in y) / max(total, 1e-12))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="0ec74c4", help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per child")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per child")
    parser.add_argument("--forms", default=",".join(FORMS))
    parser.add_argument("--autocast", choices=("none", "bf16"), default="none")
    parser.add_argument(
        "--base-autocast",
        choices=("none", "bf16"),
        default="none",
        help="the base's forward (default float32, as the base commit 0ec74c4 trained; bf16 to "
        "compare two commits that both train under autocast)",
    )
    parser.add_argument("--cache", type=Path, default=ROOT / "data" / "benchmark" / "train-step")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead: torch.profiler's top ops of each form's step in this checkout",
    )
    parser.add_argument("--top", type=int, default=15, help="rows of the --profile table")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--form", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args)
        return 0
    if args.rounds < 1 or args.steps < 1 or args.warmup < 0:
        parser.error("need --rounds >= 1, --steps >= 1 and --warmup >= 0")
    forms = [f for f in args.forms.split(",") if f]
    unknown = set(forms) - set(FORMS)
    if unknown:
        parser.error(f"unknown forms {sorted(unknown)}; known: {list(FORMS)}")
    if args.profile:
        for form in forms:
            profile(
                form, steps=args.steps, warmup=args.warmup, autocast=args.autocast, top=args.top
            )
        return 0
    base, sha = extract(args.base, args.cache)
    checkouts = {"base": (base, args.base_autocast), "this": (ROOT, args.autocast)}
    medians: dict[str, dict[str, list[float]]] = {f: {"base": [], "this": []} for f in forms}
    first: dict[str, dict[str, list[dict[str, float]]]] = {f: {} for f in forms}
    load = os.getloadavg()
    for round_ in range(args.rounds):
        order = ["base", "this"] if round_ % 2 == 0 else ["this", "base"]
        for form in forms:
            for name in order:
                path, autocast = checkouts[name]
                result = run_child(
                    path, form, steps=args.steps, warmup=args.warmup, autocast=autocast
                )
                medians[form][name].append(statistics.median(result["times"]))
                first[form].setdefault(name, result["losses"])
            line = ", ".join(f"{n} {medians[form][n][-1]:.3f} s" for n in order)
            print(f"round {round_ + 1} {form}: {line}", flush=True)
    summary: dict[str, Any] = {
        "base": sha,
        "autocast": args.autocast,
        "base_autocast": args.base_autocast,
        "rounds": args.rounds,
        "steps": args.steps,
        "load_before": load,
        "load_after": os.getloadavg(),
        "forms": {},
    }
    print(
        f"\nbase {sha[:10]} (autocast {args.base_autocast}) vs this checkout (autocast "
        f"{args.autocast}), one thread each"
    )
    print(f"load average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    for form in forms:
        b = statistics.median(medians[form]["base"])
        t = statistics.median(medians[form]["this"])
        per_round = [
            x / y for x, y in zip(medians[form]["base"], medians[form]["this"], strict=True)
        ]
        rel = _max_rel(first[form]["this"], first[form]["base"])
        summary["forms"][form] = {
            "base_s": b,
            "this_s": t,
            "ratio": b / t,
            "median_round_ratio": statistics.median(per_round),
            "round_ratios": per_round,
            "loss_max_rel_diff_per_step": rel,
        }
        print(
            f"{form:12s} base {b:.3f} s  this {t:.3f} s  ratio {b / t:.2f}x; per round: median "
            f"{statistics.median(per_round):.2f}x, {min(per_round):.2f}-{max(per_round):.2f}; "
            "loss diff / total per step: " + " ".join(f"{r:.1e}" for r in rel)
        )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    if "--child" in sys.argv:  # run as a script in a checkout: that checkout first on sys.path
        sys.path[:0] = [os.path.join(os.getcwd(), "metrics", "src"), os.getcwd()]
    raise SystemExit(main())
