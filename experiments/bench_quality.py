"""Representation quality of several presets at one budget, as a markdown table.

    python experiments/bench_quality.py --models vae beta-vae simvae --epochs 10 --out runs/quality
Each run is a normal run folder (reused if already finished); the table reads their metrics.json.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import ppl_ssl
from ppl_ssl.cli import user_errors

COLUMNS = [("knn_accuracy", "kNN"), ("linear_probe_accuracy", "LP"), ("mlp_probe_accuracy", "MP"),
           ("gmm_accuracy", "GMM"), ("gmm_nmi", "NMI"), ("gmm_ari", "ARI"), ("reconstruction_mse", "MSE")]


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["vae", "beta-vae", "simvae"])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--train-subset", type=int, default=0)
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", default="runs/quality")
    args = parser.parse_args(argv)
    rows = []
    with user_errors():
        for model in args.models:
            out = Path(args.out) / f"{model}-e{args.epochs}"
            metrics_file = out / "metrics.json"
            if not metrics_file.exists():
                config = ppl_ssl.build_config(model, {"train.epochs": args.epochs, "data.train_subset": args.train_subset,
                                                      "data.dataset": args.dataset}, args.set)
                started = time.perf_counter()
                ppl_ssl.fit_and_evaluate(config, out, resume=(out / "checkpoint.pt").exists(), progress=False)
                print(f"{model}: {time.perf_counter() - started:.0f}s wall (train + evaluation)", flush=True)
            rows.append((model, json.loads(metrics_file.read_text())))
    header = "| model | epochs | train s | " + " | ".join(label for _, label in COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(COLUMNS) + 3)]
    for model, m in rows:
        cells = [f"{100 * m[k]:.1f}" if k != "reconstruction_mse" else f"{m[k]:.4f}" for k, _ in COLUMNS]
        lines.append(f"| {model} | {m.get('epochs', '?')} | {m.get('train_seconds', 0):.0f} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    return table


if __name__ == "__main__":
    main()
