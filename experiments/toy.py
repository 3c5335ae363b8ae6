"""The SimVAE paper's Figure 2, made real on a toy world whose content and style are known (ppl_ssl.data.toy):

    python experiments/toy.py                      # about a minute on a 2-core CPU -> runs/toy/toy.png, toy.json

Fits SimVAE, the VAE and SimCLR with 2-D codes on the `toy` dataset (four shapes = content; position, size and
stroke = style; the augmentations change only style), then draws each model's test codes coloured by content and
by a style factor, and scores how much of each true style factor the code keeps: R² of a k-NN regression from
the code to the factor (fitted on training codes, scored on test codes). What the probabilistic view predicts:
SimVAE clusters content and keeps style; SimCLR clusters content and discards style; the VAE keeps style but
does not group content.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from sklearn.neighbors import KNeighborsRegressor

import ppl_ssl
from ppl_ssl.data.toy import SHAPES, STYLE, toy_world
from ppl_ssl.figures import plt, save_figure
from ppl_ssl.cli import user_errors
from ppl_ssl.reporting import ensure_run, markdown_table
from ppl_ssl.storage import atomic_write_json

MODELS = {"simvae": {"model.views": 4}, "vae": {}, "simclr": {"model.views": 2}}


def style_r2(train_codes, train_style, test_codes, test_style) -> dict[str, float]:
    """R² of each true style factor predicted from the code (15-NN regression)."""
    return {name: float(KNeighborsRegressor(15).fit(train_codes, train_style[name]).score(test_codes, test_style[name]))
            for name in STYLE}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="runs/toy")
    args = parser.parse_args(argv)
    out = Path(args.out)
    train_x, train_y, train_style = toy_world(6000, seed=0)  # the dataset's own images and their true factors
    test_x, test_y, test_style = toy_world(1000, seed=1)
    eval_settings = {"eval.probe_epochs": 20, "eval.gmm_n_init": 2, "eval.tsne_points": 0, "eval.style_probe": False,
                     "eval.diagnostics_points": 0, "eval.figures": False}
    results, codes = {}, {}
    for model, overrides in MODELS.items():
        folder = ensure_run(model, out / model, {"data.dataset": "toy", "model.latent_dim": 2, "train.epochs": args.epochs,
                                                 "train.seed": args.seed, "train.device": args.device,
                                                 "train.precision": "fp32", **overrides, **eval_settings},
                            ["nets.encoder_hidden=[256, 256]", "nets.decoder_hidden=[256, 256]"])  # 16×16 images: small MLPs
        run = ppl_ssl.load_run(folder, device=args.device)
        train_codes, test_codes = run.encode(torch.as_tensor(train_x[:3000])).numpy(), run.encode(torch.as_tensor(test_x)).numpy()
        train_style_part = {k: v[:3000] for k, v in train_style.items()}
        r2 = style_r2(train_codes, train_style_part, test_codes, test_style)
        results[model] = {"knn_accuracy": run.metrics["knn_accuracy"], "style_r2": r2,
                          "style_r2_mean": float(np.mean(list(r2.values())))}
        codes[model] = test_codes
    figure, axes = plt.subplots(len(MODELS), 2, figsize=(8, 3.4 * len(MODELS)), squeeze=False)
    for row, model in enumerate(MODELS):
        c = codes[model]
        axes[row][0].scatter(c[:, 0], c[:, 1], c=[plt.cm.tab10(label) for label in test_y], s=4)  # one colour per shape
        points = axes[row][1].scatter(c[:, 0], c[:, 1], c=test_style["x"], s=4, cmap="viridis")
        for ax, title in ((axes[row][0], "content (shape)"), (axes[row][1], "style (horizontal position)")):
            ax.set_title(f"{model}: coloured by {title}", fontsize=9)
            ax.set_xticks([]), ax.set_yticks([])
        handles = [plt.Line2D([], [], marker="o", ls="", color=plt.cm.tab10(i), label=s) for i, s in enumerate(SHAPES)]
        axes[row][0].legend(handles=handles, fontsize=7, loc="best")
        figure.colorbar(points, ax=axes[row][1], fraction=0.046)
        axes[row][1].text(0.02, 0.02, f"style R² {results[model]['style_r2_mean']:.2f}", transform=axes[row][1].transAxes,
                          fontsize=8)
    figure.suptitle("2-D codes of the toy world's test images: content clusters, style kept or discarded", fontsize=10)
    figure.tight_layout()
    save_figure(figure, out / "toy.png")
    atomic_write_json(out / "toy.json", results)
    rows = [[m, f"{100 * r['knn_accuracy']:.1f}", *(f"{r['style_r2'][s]:.2f}" for s in STYLE), f"{r['style_r2_mean']:.2f}"]
            for m, r in results.items()]
    print(markdown_table(["model", "content kNN %", *(f"R² {s}" for s in STYLE), "R² mean"], rows))
    print(f"figure: {out / 'toy.png'}")
    return results


if __name__ == "__main__":
    with user_errors():  # a bad preset or --set: one line, not a traceback
        main()
