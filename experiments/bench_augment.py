"""Throughput of the batched augmentation (views per second).  python experiments/bench_augment.py [--device cpu]"""
from __future__ import annotations

import argparse

import torch

import ppl_ssl
from ppl_ssl.augment import Augmenter
from ppl_ssl.reporting import timed


def throughput(dataset: str, batch: int, views: int, device: torch.device, repeats: int) -> float:
    config = ppl_ssl.build_config("simvae", {"data.dataset": dataset})
    shape = ppl_ssl.data.datasets.DATASETS[dataset].component.image_shape
    images = torch.rand(batch, *shape, device=device)
    augmenter = Augmenter(config.augment, seed=0, device=device)
    augmenter(images, views)  # warm-up

    def repeated() -> None:
        for _ in range(repeats):
            augmenter(images, views)  # each output dropped at once, as before: memory is reused

    return batch * views * repeats / timed(repeated, device)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--views", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    results = {}
    for dataset, label in (("fashion-mnist", "28 px grey (crop + flip)"), ("cifar10", "32 px colour (crop + flip + jitter)")):
        results[dataset] = throughput(dataset, args.batch, args.views, device, args.repeats)
        print(f"{label:<38} {results[dataset]:>12,.0f} views/s  (B={args.batch}, J={args.views}, {device})")
    return results


if __name__ == "__main__":
    main()
