"""Train `ToyPanopticNet` on a synthetic dataset: the subprocess side of the trainer tests.

python run_toy.py --data ROOT --run-dir DIR [--iterations N] [--batch B] [--resume] ...
python -m torch.distributed.run --nproc-per-node 2 run_toy.py ...   (gloo on the CPU)
"""

from __future__ import annotations

import argparse
import logging

import torch
from toy_model import ToyPanopticNet

from reference_model.config import to_dict
from reference_model.data import AugmentationConfig, DataConfig, synthetic
from reference_model.training import RunDirectory, Trainer, TrainingConfig, setup, teardown


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--iterations", type=int, default=12)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--checkpoint-every", type=int, default=4)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--norm", default="batch")
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--scale", type=float, nargs=2, default=(0.75, 1.25))
    p.add_argument("--resume", action="store_true")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO)
    torch.set_num_threads(1)  # the same arithmetic in every process of a comparison
    ctx = setup(device="cpu")
    data = DataConfig(
        dataset="synthetic",
        root=args.data,
        workers=args.workers,
        augmentation=AugmentationConfig(short_side=48, scale_range=tuple(args.scale)),
    )
    config = TrainingConfig(
        iterations=args.iterations,
        milestones=(args.iterations // 2,),
        lr=0.05,
        warmup_iterations=3,
        batch_size=args.batch,
        checkpoint_every=args.checkpoint_every,
        log_every=1,
        tensorboard=False,
    )
    source = synthetic(args.data, "train")
    torch.manual_seed(config.seed)
    model = ToyPanopticNet(source.classes.n_classes, norm=args.norm, dropout=args.dropout)
    run_config = {
        "model": {"toy": args.norm, "dropout": args.dropout},
        "data": to_dict(data),
        "training": to_dict(config),
    }
    trainer = Trainer(
        model,
        source=source,
        data=data,
        config=config,
        run=RunDirectory(args.run_dir),
        run_config=run_config,
        ctx=ctx,
        progress=False,
    )
    trainer.fit(resume=args.resume)
    teardown()


if __name__ == "__main__":
    main()
