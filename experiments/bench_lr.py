"""Which learning rate converges fastest at a short CPU budget: each model at each lr for --epochs epochs, scored by
kNN and MLP-probe accuracy (how the `cpu` reproduction budget's learning rate was chosen).

    python experiments/bench_lr.py --models vae simvae simclr --lrs 8e-5 3e-4 1e-3 3e-3 --epochs 5
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ppl_ssl.cli import user_errors
from ppl_ssl.reporting import ensure_run, markdown_table

QUICK_EVAL = {"eval.probe_epochs": 20, "eval.gmm_n_init": 1, "eval.style_probe": False, "eval.diagnostics_points": 0,
              "eval.tsne_points": 0, "eval.figures": False}


def main(argv=None) -> list[list]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["vae", "simvae", "simclr"])
    parser.add_argument("--lrs", type=float, nargs="+", default=[8e-5, 3e-4, 1e-3, 3e-3])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train-subset", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="runs/bench_lr")
    args = parser.parse_args(argv)
    rows = []
    for model in args.models:
        for lr in args.lrs:
            folder = ensure_run(model, Path(args.out) / f"{model}-lr{lr:g}-e{args.epochs}",
                                {"train.lr": lr, "train.epochs": args.epochs, "train.seed": args.seed, "train.device": args.device,
                                 "data.train_subset": args.train_subset, **QUICK_EVAL}, [])
            m = json.loads((folder / "metrics.json").read_text())
            rows.append([model, f"{lr:g}", f"{100 * m['knn_accuracy']:.1f}", f"{100 * m['mlp_probe_accuracy']:.1f}",
                         f"{m['train_seconds'] / m['epochs']:.1f}", m["precision"]])
            print(markdown_table(["model", "lr", "kNN", "MP", "s/epoch", "precision"], rows[-1:]).splitlines()[-1], flush=True)
    print(f"\n{args.epochs} epochs, seed {args.seed}, {'all' if not args.train_subset else args.train_subset} training images")
    print(markdown_table(["model", "lr", "kNN", "MP", "s/epoch", "precision"], rows))
    return rows


if __name__ == "__main__":
    with user_errors():  # a bad preset or --set: one line, not a traceback
        main()
