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


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A markdown table of one header row and rows of cells (anything with a str())."""
    line = lambda cells: "| " + " | ".join(str(c) for c in cells) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "---|" * len(header), *(line(r) for r in rows)])


def ensure_run(model: str, epochs: int, train_subset: int, dataset: str, assignments: list[str], root: Path) -> Path:
    """The run folder of `model` at this budget, fitted and evaluated first unless it already is (resumes a killed one)."""
    out = root / f"{model}-e{epochs}"
    if not (out / "metrics.json").exists():
        with user_errors():
            config = ppl_ssl.build_config(model, {"train.epochs": epochs, "data.train_subset": train_subset,
                                                  "data.dataset": dataset}, assignments)
            started = time.perf_counter()
            ppl_ssl.fit_and_evaluate(config, out, resume=(out / "checkpoint.pt").exists(), progress=False)
        print(f"{model}: {time.perf_counter() - started:.0f}s wall (train + evaluation)", flush=True)
    return out


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
        out = ensure_run(model, args.epochs, args.train_subset, args.dataset, args.set, Path(args.out))
        rows.append((model, json.loads((out / "metrics.json").read_text())))
    table = markdown_table(["model", "epochs", "train s", *(label for _, label in COLUMNS)], [
        [model, m.get("epochs", "?"), f"{m.get('train_seconds', 0):.0f}",
         *(f"{100 * m[k]:.1f}" if k != "reconstruction_mse" else f"{m[k]:.4f}" for k, _ in COLUMNS)] for model, m in rows])
    print(table)
    return table


if __name__ == "__main__":
    main()
