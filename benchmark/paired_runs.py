"""Two runs of the same model on the same images, compared: PQ with its bootstrap interval, and
the paired difference A − B (panoptic_metrics' `paired_bootstrap`: the same image resamples
for both, 1000 resamples, 95%, seed 0, as the report draws them).

    python -m benchmark.paired_runs runs/demo-bf16/combined runs/demo/combined

The report pairs every run with the one named `combined`; this compares two runs of one name
from two output folders (e.g. the demo trained in float32 and under bfloat16 autocast).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from panoptic_metrics.bootstrap import bootstrap, paired_bootstrap

from reports.runs import load_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path, help="run directory A (with metrics.json)")
    parser.add_argument("b", type=Path, help="run directory B, the same images")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    results = []
    for path in (args.a, args.b):
        run = load_run(path)
        if run.results is None:
            parser.error(f"{path}: no metrics.json with panoptic results")
        results.append(run.results)
        ci = bootstrap(run.results, n_samples=args.samples, seed=args.seed).pq
        print(f"{path}: PQ {ci.estimate:.4f} [{ci.low:.4f}, {ci.high:.4f}]")
    d = paired_bootstrap(results[0], results[1], n_samples=args.samples, seed=args.seed)
    print(
        f"A - B: PQ {d.pq.estimate:+.4f} [{d.pq.low:+.4f}, {d.pq.high:+.4f}], "
        f"PQ† {d.pq_dagger.estimate:+.4f} [{d.pq_dagger.low:+.4f}, {d.pq_dagger.high:+.4f}], "
        f"p {d.p_value:.3f} ({d.n_images} images)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
