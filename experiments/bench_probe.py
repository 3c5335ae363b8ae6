"""The two probes of `eval.probe` on one run's frozen representation: the SimVAE paper's Adam probe (fixed epochs,
epoch chosen on validation) against scikit-learn's logistic regression and MLP solved to convergence (L2 strength
chosen on validation), with the Adam probe at several epoch budgets, and the seconds each took.

    python experiments/bench_probe.py runs/table1/cpu/fashion-mnist/simvae-s1 --out docs/reproduction/probes_cpu
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import ppl_ssl
from ppl_ssl.evaluation import extract_features
from ppl_ssl.evaluation.representation import probe_accuracy, sklearn_probe_accuracy
from ppl_ssl.train.setup import load_data_for


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a finished run folder")
    parser.add_argument("--adam-epochs", type=int, nargs="+", default=[5, 50, 200], help="epoch budgets of the Adam probe")
    parser.add_argument("--probes", nargs="+", choices=["linear", "MLP"], default=["linear", "MLP"])
    parser.add_argument("--out", required=True, help="writes OUT.json and OUT.png")
    args = parser.parse_args(argv)
    run = ppl_ssl.load_run(args.run)
    data = load_data_for(run.config, run.device)
    features = extract_features(run.system.encode, data)
    rows = []
    for name, hidden in (("linear", None), ("MLP", features.train.shape[1])):
        if name not in args.probes:
            continue
        started = time.perf_counter()
        accuracy, strength = sklearn_probe_accuracy(features, hidden, seed=run.config.train.seed)
        rows.append({"probe": name, "kind": "sklearn", "accuracy": accuracy, "setting": strength,
                     "seconds": time.perf_counter() - started})
        for epochs in args.adam_epochs:
            started = time.perf_counter()
            accuracy, best_epoch = probe_accuracy(features, hidden, epochs, run.config.eval.probe_lr,
                                                  run.config.eval.probe_batch_size, run.config.train.seed)
            rows.append({"probe": name, "kind": f"adam {epochs} epochs", "accuracy": accuracy, "setting": best_epoch,
                         "seconds": time.perf_counter() - started})
        for row in rows[-1 - len(args.adam_epochs):]:
            print(f"{row['probe']:<7} {row['kind']:<16} accuracy {row['accuracy']:.4f}  "
                  f"({'C/alpha' if row['kind'] == 'sklearn' else 'best epoch'} {row['setting']:g})  {row['seconds']:.1f} s", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"run": str(args.run), "model": run.config.name, "dataset": run.config.data.dataset, "rows": rows}
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    _figure(rows, out.with_suffix(".png"), f"{run.config.name} on {run.config.data.dataset}: test accuracy of each probe")
    return result


def _figure(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    probes = list(dict.fromkeys(r["probe"] for r in rows))
    fig, axes = plt.subplots(1, len(probes), figsize=(4.5 * len(probes), 3.2), sharey=True, squeeze=False)
    axes = axes[0]
    for ax, probe in zip(axes, probes):
        values = [next(r["accuracy"] for r in rows if r["probe"] == probe and r["kind"] == k) for k in kinds]
        bars = ax.bar(range(len(kinds)), [100 * v for v in values], color=["#4c72b0"] + ["#dd8452"] * (len(kinds) - 1))
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
        ax.set_xticks(range(len(kinds)), kinds, rotation=20, fontsize=8)
        ax.set_title(f"{probe} probe", fontsize=9)
        low = min(values) * 100
        ax.set_ylim(max(0, low - 10), 100)
    axes[0].set_ylabel("test accuracy (%)")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
