"""Seconds per training epoch on Fashion-MNIST (55k images) for each preset.  python experiments/bench_epoch.py

Runs one real epoch of each preset (no evaluation) and prints its wall time and throughput.
"""
from __future__ import annotations

import argparse

import ppl_ssl
from ppl_ssl.cli import user_errors
from ppl_ssl.reporting import epoch_seconds


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", default=["vae", "simvae"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--train-subset", type=int, default=0)
    args = parser.parse_args(argv)
    results = {}
    with user_errors():
        for model in args.models:
            config = ppl_ssl.build_config(model, {"train.epochs": 1, "train.device": args.device, "data.train_subset": args.train_subset})
            (seconds,), data = epoch_seconds(config)  # the loop, not data loading
            views = len(data.train_x) * config.model.views
            results[model] = seconds
            print(f"{model:<10} J={config.model.views:<3} {seconds:7.1f} s/epoch  {views / seconds:9,.0f} views/s  "
                  f"({len(data.train_x)} images, device {data.train_x.device})")
    return results


if __name__ == "__main__":
    main()
