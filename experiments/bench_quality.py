"""Representation quality of several presets at one budget, as a markdown table.

    python experiments/bench_quality.py --models vae beta-vae simvae --epochs 10 --out runs/quality
Each run is a normal run folder (reused if already finished); the table reads their metrics.json.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ppl_ssl.cli import user_errors
from ppl_ssl.reporting import ensure_run, markdown_table

COLUMNS = [("knn_accuracy", "kNN"), ("linear_probe_accuracy", "LP"), ("mlp_probe_accuracy", "MP"),
           ("gmm_accuracy", "GMM"), ("gmm_nmi", "NMI"), ("gmm_ari", "ARI"), ("reconstruction_mse", "MSE")]


def ensure_quality_run(model: str, epochs: int, train_subset: int, dataset: str, assignments: list[str], root: Path) -> Path:
    """The run folder of `model` at this budget (root/MODEL-eEPOCHS), fitted and evaluated unless it already is."""
    return ensure_run(model, root / f"{model}-e{epochs}",
                      {"train.epochs": epochs, "data.train_subset": train_subset, "data.dataset": dataset}, assignments)


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
    for model in args.models:
        out = ensure_quality_run(model, args.epochs, args.train_subset, args.dataset, args.set, Path(args.out))
        rows.append((model, json.loads((out / "metrics.json").read_text())))
    table = markdown_table(["model", "epochs", "train s", *(label for _, label in COLUMNS)], [
        [model, m.get("epochs", "?"), f"{m.get('train_seconds', 0):.0f}",
         *(f"{100 * m[k]:.1f}" if k != "reconstruction_mse" else f"{m[k]:.4f}" for k, _ in COLUMNS)] for model, m in rows])
    print(table)
    return table


if __name__ == "__main__":
    with user_errors():  # a bad preset or --set: one line, not a traceback
        main()
