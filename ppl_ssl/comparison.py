"""The comparison behind `ppl-ssl compare`: one run per model and seed, post-hoc decoders for the encoders without
one, and the table of mean ± standard error over seeds beside the SimVAE paper's kNN."""
from __future__ import annotations

import json
from pathlib import Path

import torch

import ppl_ssl
from ppl_ssl import figures
from ppl_ssl.data import as_float
from ppl_ssl.posthoc import decode_run
from ppl_ssl.progress import say
from ppl_ssl.runs import load_posthoc_decoder
from ppl_ssl.reporting import ensure_run, format_mean_se, markdown_table, mean_and_standard_error
from ppl_ssl.reproduction import paper_value
from ppl_ssl.storage import atomic_write_json, atomic_write_text
from ppl_ssl.train.setup import load_data_for

CONTENT = [("knn_accuracy", "kNN"), ("linear_probe_accuracy", "LP"), ("mlp_probe_accuracy", "MP"), ("gmm_accuracy", "GMM"),
           ("gmm_nmi", "NMI"), ("gmm_ari", "ARI")]
STYLE = [("style_r2_mean", "style R² (mean)"), ("style_r2_crop_scale", "R² crop area"), ("style_r2_crop_x", "R² crop x"),
         ("style_accuracy_vflip", "v-flip acc."), ("style_accuracy_hflip", "h-flip acc.")]


def paper_knn(model: str, dataset: str) -> str:
    """The SimVAE paper's Table 1 k-NN accuracy for the model and dataset (400 epochs, 3 runs), for the shape of the result."""
    found = paper_value("knn_accuracy", model, dataset, ("simvae-table1",))
    return str(found[0]) if found else "–"


def reconstruction_mse(metrics: dict) -> tuple[float | None, bool]:
    """The model's own test MSE if it has a decoder, else its post-hoc decoder's (flagged)."""
    if "reconstruction_mse" in metrics:
        return metrics["reconstruction_mse"], False
    return metrics.get("posthoc_reconstruction_mse"), True


@torch.no_grad()
def reconstruction_figure(runs: dict[str, Path], path: Path, n: int = 12, device: str = "cpu") -> None:
    rows, labels = [], []
    for model, folder in runs.items():
        run = ppl_ssl.load_run(folder, device=device)
        if not rows:
            data = load_data_for(run.config, run.device)
            images = as_float(data.test_x[:n]).to(run.device)
            rows, labels = [images.cpu()], ["test images"]
        if run.system.can_decode:
            rows.append(run.system.reconstruct(images).cpu())
            labels.append(model)
        elif (decoder := load_posthoc_decoder(run, data.spec.image_shape)) is not None:
            rows.append(decoder(run.system.encode(images)).cpu())
            labels.append(f"{model} (post hoc)")
    figures.comparison_grid(rows, labels, path, "reconstructions from each model's representation of the same test images")


def compare(args) -> str:
    """Train (or reuse) every model's runs, fit post-hoc decoders, write OUT/compare.md, compare.json and
    reconstructions.png; `args` are `ppl-ssl compare`'s parsed arguments. Returns the table."""
    overrides = {"train.device": args.device, **({"train.precision": args.precision} if args.precision else {})}
    out = Path(args.out)
    for model in args.models:  # every preset and override checked before hours of training start
        ppl_ssl.build_config(model, {"data.dataset": args.dataset, **overrides}, args.set)
    results: dict[str, list[dict]] = {}
    folders: dict[str, list[Path]] = {}
    for model in args.models:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            folder = ensure_run(model, out / f"{model}-e{args.epochs}-s{seed}",
                                {"train.epochs": args.epochs, "train.seed": seed, "data.train_subset": args.train_subset,
                                 "data.dataset": args.dataset, **overrides}, args.set)
            metrics = json.loads((folder / "metrics.json").read_text())
            if "reconstruction_mse" not in metrics and not args.no_decode and "posthoc_reconstruction_mse" not in metrics:
                run = ppl_ssl.load_run(folder, device=args.device)
                summary = decode_run(run, load_data_for(run.config, run.device), max_epochs=args.decode_epochs,
                                     patience=args.decode_patience, lr=args.decode_lr, progress=False)
                say(f"{model} seed {seed}: post-hoc decoder test MSE {summary['posthoc_reconstruction_mse']:.4f} after "
                    f"{summary['posthoc_epochs']} epochs ({summary['posthoc_seconds']:.0f}s)")
                metrics = json.loads((folder / "metrics.json").read_text())
            results.setdefault(model, []).append(metrics)
            folders.setdefault(model, []).append(folder)

    style = [(k, label) for k, label in STYLE if any(k in m for runs in results.values() for m in runs)]
    header = ["model", "J", "s/epoch", *(label for _, label in CONTENT), *(label for _, label in style), "MSE",
              "paper kNN"]
    rows, summary = [], {}
    for model, runs in results.items():
        mse = [reconstruction_mse(m) for m in runs]
        mse_values = [v for v, _ in mse if v is not None]
        seconds = [m["train_seconds"] / m["epochs"] for m in runs]
        keys = [k for k, _ in CONTENT + style]
        summary[model] = {k: mean_and_standard_error([m[k] for m in runs if k in m]) for k in keys if any(k in m for m in runs)}
        summary[model]["mse"] = mean_and_standard_error(mse_values) if mse_values else None
        rows.append([model, runs[0]["views"], f"{sum(seconds) / len(seconds):.1f}",
                     *(format_mean_se([m[k] for m in runs], 100) for k, _ in CONTENT),
                     *(format_mean_se([m[k] for m in runs if k in m], 100 if "accuracy" in k else 1,
                                      1 if "accuracy" in k else 3) for k, _ in style),
                     (format_mean_se(mse_values, digits=4) + (" †" if any(p for _, p in mse) else "")) if mse_values else "–",
                     paper_knn(model, args.dataset)])
    table = markdown_table(header, rows)
    note = (f"\n\n{args.dataset}, {args.epochs} epochs, {args.seeds} seed(s) from {args.first_seed}"
            f"{f', {args.train_subset} training images' if args.train_subset else ''}; accuracies in %, mean ± standard "
            "error over seeds; style: probes on augmented test views (R² of crop parameters, flip accuracy; chance "
            "50%); MSE per pixel on test images, † = post-hoc decoder on the frozen encoder; paper kNN: SimVAE paper "
            "Table 1 (400 epochs).\n")
    atomic_write_text(out / "compare.md", table + note)
    atomic_write_json(out / "compare.json", {"summary": summary, "runs": {m: r for m, r in results.items()},
                                             "epochs": args.epochs, "seeds": args.seeds, "dataset": args.dataset})
    reconstruction_figure({model: paths[0] for model, paths in folders.items()}, out / "reconstructions.png", device=args.device)
    print(table + note)
    print(f"table: {out / 'compare.md'}   figure: {out / 'reconstructions.png'}")
    return table

