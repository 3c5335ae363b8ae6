"""Epoch seconds on a GPU, per model and execution mode, and the projected time of the paper's SimVAE run.

    python experiments/bench_gpu.py                      # on a CUDA machine: about 5 minutes
    python experiments/bench_gpu.py --dry-run            # anywhere: tiny steps on the CPU, checks the plumbing only

Each (model, mode) times fit's own training step (`TrainStep`, or `GraphedTrainStep` for the cuda-graph mode) on a
batch of 128 Fashion-MNIST-sized 8-bit images already on the device, with the presets' nets and views (SimVAE
J = 10, CR-VAE and SimCLR J = 2, the VAE and selfVAE J = 1). Modes: fp32 (TF32 off), tf32 (matrix products in
TF32), bf16 (autocast), compiled (bf16 + torch.compile of the nets), cuda-graph (bf16, the whole step captured and
replayed). After warm-up steps (and the capture), `--steps` steps are timed between two CUDA events; the epoch is
that time per step × 430 steps (55,000 training images / 128). The paper's SimVAE run is 400 such epochs; the
projection leaves out evaluation and data loading (the data sit on the device), so it is a lower bound.

The table it prints is the one the speed guide shows. A dry run uses the CPU, batches of 8, 2 timed steps, tiny nets, no
compilation and the eager stand-in for the capture: its numbers mean nothing, only that every row can be built and run.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import time

import pyro
import torch

import ppl_ssl
from ppl_ssl.reporting import markdown_table
from ppl_ssl.train.graph import EagerBackend, GraphedTrainStep
from ppl_ssl.train.setup import build_train_step

MODELS = {"vae": 1, "simvae": 10, "crvae-contrastive": 2, "crvae-consistency": 2, "simclr": 2, "selfvae-downscale": 1}
MODES = ("fp32", "tf32", "bf16", "compiled", "cuda-graph")
TRAIN_IMAGES, BATCH, PAPER_EPOCHS = 55_000, 128, 400
TINY_NETS = ["nets.encoder_hidden=[32]", "nets.decoder_hidden=[32]", "model.latent_dim=4"]
TINY_SELFVAE = ["model.program.channels=4", "model.program.components=1", "model.latent_dim=4"]


def mode_settings(mode: str, dry_run: bool) -> dict:
    precision = "fp32" if mode in ("fp32", "tf32") else "bf16"
    return {"train.precision": precision, "train.compile": mode == "compiled" and not dry_run,
            "train.cuda_graph": mode == "cuda-graph"}


@contextlib.contextmanager
def tf32(enabled: bool):
    """TF32 matrix products and convolutions on CUDA for the block (no effect elsewhere)."""
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def seconds_per_step(model: str, mode: str, device: torch.device, steps: int, warmup: int, batch: int,
                     dry_run: bool) -> float:
    settings = {"model.views": MODELS[model], "train.device": str(device), **mode_settings(mode, dry_run)}
    tiny = (TINY_SELFVAE if model.startswith("selfvae") else TINY_NETS) if dry_run else []
    config = ppl_ssl.build_config(model, settings, tiny)
    step = build_train_step(config, (1, 28, 28), device)
    if config.train.cuda_graph:
        step = GraphedTrainStep(step, backend=EagerBackend() if dry_run else None)
    images = torch.randint(0, 256, (batch, 1, 28, 28), dtype=torch.uint8, device=device)
    with tf32(mode == "tf32"), pyro.validation_enabled(False):
        for _ in range(warmup):  # warm-up, compilation, capture
            step(images, 1.0)
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize(device)
            start.record()
            for _ in range(steps):
                step(images, 1.0)
            end.record()
            torch.cuda.synchronize(device)
            return start.elapsed_time(end) / 1e3 / steps
        began = time.perf_counter()
        for _ in range(steps):
            step(images, 1.0)
        return (time.perf_counter() - began) / steps


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--steps", type=int, default=50, help="timed steps per (model, mode)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (the capture happens among them)")
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny nets, 2 steps: checks that every row runs")
    args = parser.parse_args(argv)
    if args.dry_run:
        device, steps, warmup, batch = torch.device("cpu"), 2, 5, 8
    elif not torch.cuda.is_available():
        raise SystemExit("error: no CUDA device here; run with --dry-run to check the script on a CPU")
    else:
        device, steps, warmup, batch = torch.device("cuda"), args.steps, args.warmup, BATCH
    steps_per_epoch = math.ceil(TRAIN_IMAGES / BATCH)
    epoch = {(m, mode): steps_per_epoch * seconds_per_step(m, mode, device, steps, warmup, batch, args.dry_run)
             for m in args.models for mode in args.modes}
    name = "CPU (dry run: numbers mean nothing)" if args.dry_run else torch.cuda.get_device_name(device)
    print(f"{name}, torch {torch.__version__}, batch {batch}, {steps_per_epoch} steps an epoch, the mean of {steps} "
          f"timed steps after {warmup} warm-up steps; seconds per epoch:")
    rows = [[m, MODELS[m], *(f"{epoch[m, mode]:.2f}" for mode in args.modes)] for m in args.models]
    print(markdown_table(["model", "J", *args.modes], rows))
    if "simvae" in args.models:
        best_mode = min(args.modes, key=lambda mode: epoch["simvae", mode])
        minutes = PAPER_EPOCHS * epoch["simvae", best_mode] / 60
        print(f"the paper's SimVAE run ({PAPER_EPOCHS} epochs, J = 10) in {best_mode}: {minutes:.1f} min of training steps")
    return epoch


if __name__ == "__main__":
    main()
