"""Training-step time of every method on the same nets and batch: B images × J views, Fashion-MNIST-sized MLP.

    python experiments/bench_methods_step.py [--batch 128 --views 2 10 --steps 20 --device cpu]

One step = augment the batch into J views, loss, backward, Adam, the method's after-step hook (momentum update,
queue) — what `fit` does per step, with its optimiser (fused Adam), precision (--precision) and host-memory
setting, and Pyro's argument checks off as in training. Methods are timed round-robin in one process (median over steps), so their
ratios are robust to the machine's drift.
"""
from __future__ import annotations

import argparse

import pyro
import torch

import ppl_ssl
from ppl_ssl.augment import Augmenter
from ppl_ssl.reporting import markdown_table, round_robin_medians
from ppl_ssl.runtime import keep_freed_memory
from ppl_ssl.train.setup import build_train_step

METHODS = ["vae", "simvae", "crvae-consistency", "crvae-contrastive", "simclr", "vicreg", "mocov2"]


def make_step(preset: str, views: int, batch: int, device: torch.device, precision: str = "fp32"):
    """fit's own training step (ppl_ssl.train.step.TrainStep) on a fixed batch of random 8-bit images."""
    config = ppl_ssl.build_config(preset, {"model.views": views, "train.device": str(device), "train.precision": precision})
    step = build_train_step(config, (1, 28, 28), device)
    images = torch.randint(0, 256, (batch, 1, 28, 28), dtype=torch.uint8, device=device)
    return lambda: step(images)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--views", type=int, nargs="+", default=[2, 10])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "auto"])
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    keep_freed_memory()  # as fit does
    rows = []
    for views in args.views:
        steps = {m: make_step(m, views, args.batch, device, args.precision) for m in args.methods}
        with pyro.validation_enabled(False):
            medians = round_robin_medians(steps, args.steps, device)
        for m, median in medians.items():
            rows.append([m, views, f"{1e3 * median:.1f}", f"{args.batch * views / median:,.0f}"])
    table = markdown_table(["method", "J", "ms/step", "views/s"], rows)
    print(f"device {device} ({torch.get_num_threads()} threads), precision {args.precision}, B = {args.batch} images, MLP nets, "
          f"median of {args.steps} steps")
    print(table)
    return table


if __name__ == "__main__":
    main()
