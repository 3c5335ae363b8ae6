"""Fit a model preset, evaluate it and draw its figures:  ppl-ssl fit --model simvae"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import ppl_ssl
from ppl_ssl.cli import ArgumentParser, stored_catalogue, user_errors
from ppl_ssl.errors import ConfigError

# The library (torch, the registries) is imported inside the functions below, after the arguments are parsed: help
# and argument errors answer at once.

DEFAULT_MODEL = "simvae"
# flag -> config key; a flag left out keeps the preset's value
FLAGS = {"dataset": "data.dataset", "data_dir": "data.data_dir", "epochs": "train.epochs", "views": "model.views",
         "batch_size": "train.batch_size", "lr": "train.lr", "seed": "train.seed", "device": "train.device",
         "train_subset": "data.train_subset", "precision": "train.precision", "tensorboard": "train.tensorboard"}


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__, epilog=stored_catalogue(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help=f"a preset name (listed below) or a preset .toml file (default: {DEFAULT_MODEL}; "
                        "with --resume: the saved run's)")
    parser.add_argument("--dataset", help="dataset name (default: the preset's, fashion-mnist)")
    parser.add_argument("--data-dir", help="folder holding the dataset's files (default: $PPL_SSL_DATA, then system folders)")
    parser.add_argument("--epochs", type=int, help="passes over the training images (train.epochs; with --resume: may grow, never shrink)")
    parser.add_argument("--views", type=int, help="J, augmented views per image")
    parser.add_argument("--batch-size", type=int, help="images per step, each contributing J views (train.batch_size)")
    parser.add_argument("--lr", type=float, help="the base learning rate (train.lr; the schedule scales it)")
    parser.add_argument("--seed", type=int, help="seeds the weights, data order and augmentations (train.seed, 0 … 2³² − 1)")
    parser.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--precision", choices=["fp32", "bf16", "auto"],
                        help="the nets' arithmetic: fp32, bf16 (log-densities stay fp32) or auto (bf16 where native)")
    parser.add_argument("--train-subset", type=int, metavar="N", help="train on the first N training images only")
    parser.add_argument("--out", help="run folder (default: runs/MODEL)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override any config field, e.g. objective.beta=0.5")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted run in --out from its last checkpoint")
    parser.add_argument("--no-figures", action="store_true", help="skip the figures")
    parser.add_argument("--tensorboard", action="store_true", default=None,
                        help="write RUN/tensorboard/ (terms per step, epoch means, metrics, figures); needs tensorboard")
    parser.add_argument("--quiet", action="store_true", help="only the result and errors: no progress bars, stage lines or data-reading bars")
    return parser.parse_args(argv)


def resumed_config(saved_path: Path, model: str | None, cli: dict, assignments: list[str]) -> ppl_ssl.Config:
    """The saved config of the run being resumed. The command may repeat what it was started with (the same command
    plus --resume works): the flags and --set values it gives are applied to the saved config, and any resolved
    value that then differs is refused, naming each key with both values. --epochs may grow."""
    from ppl_ssl.config import config_differences, listed_differences, load_config

    saved = load_config(saved_path)
    requested = dataclasses.replace(ppl_ssl.build_config(str(saved_path), cli, assignments), name=saved.name)
    differences = config_differences(saved, requested, ignore=("name", "train.epochs", "train.rank_timeout_minutes"))
    if model is not None and Path(model).stem != saved.name:
        differences.insert(0, ("--model", saved.name, Path(model).stem))
    if differences:
        listed = listed_differences(differences, "saved", "asked")
        raise ConfigError(f"--resume continues the run saved in {saved_path.parent}, but the command differs from it: {listed}; "
                          f"drop those arguments to resume, or start a new run with another --out")
    if "train.epochs" in cli:
        saved = dataclasses.replace(saved, train=dataclasses.replace(saved.train, epochs=cli["train.epochs"]))
    return saved


def main(argv=None) -> dict:
    args = parse_args(argv)
    from ppl_ssl.distributed import process_group
    from ppl_ssl.progress import silenced
    from ppl_ssl.storage import RunPaths

    with user_errors(), silenced(args.quiet):
        cli = {key: getattr(args, flag) for flag, key in FLAGS.items() if getattr(args, flag) is not None}
        out = Path(args.out or f"runs/{Path(args.model or DEFAULT_MODEL).stem}")
        if args.resume and RunPaths(out).config.exists():
            config = resumed_config(RunPaths(out).config, args.model, cli, args.set)
        else:
            config = ppl_ssl.build_config(args.model or DEFAULT_MODEL, cli, args.set)
        with process_group(config.train.device, config.train.rank_timeout_minutes) as ranks:  # torchrun: one process per rank; else one process
            if ranks.is_main and not args.quiet:
                print(f"fitting {config.name} on {config.data.dataset} (J={config.model.views}, {config.train.epochs} epochs"
                      f"{f', {ranks.world_size} ranks' if ranks.active else ''}) -> {out}")
            metrics = ppl_ssl.fit_and_evaluate(config, out, resume=args.resume, progress=not args.quiet,
                                               make_figures=not args.no_figures)
        if not ranks.is_main:
            return metrics
    shown = ["knn_accuracy", "linear_probe_accuracy", "mlp_probe_accuracy", "gmm_accuracy", "gmm_nmi", "gmm_ari", "reconstruction_mse",
             "elbo", "kl", "mutual_information", "active_units", "test_nll", "test_bpd"]
    print("  ".join(f"{k}={metrics[k]:.4g}" for k in shown if metrics.get(k) is not None))
    print(f"metrics: {RunPaths(out).metrics}   figures: {RunPaths(out).figures}/")
    return metrics


if __name__ == "__main__":
    main()
