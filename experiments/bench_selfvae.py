"""selfVAE against the VAE with the same nets, prior and likelihood, at one budget (the selfVAE paper's Table 1
and Figure 6, on Fashion-MNIST):

    python experiments/bench_selfvae.py --epochs 10 --nll-samples 512 --nll-images 1000

For each preset (vae-logistic = selfVAE's program with levels = 1, selfvae-downscale, selfvae-sketch,
selfvae-hier): fit and evaluate a run under --out (reused when finished, resumed when killed), estimate the test
bits/dim from the importance-weighted NLL (experiments/evaluate.py --nll), draw every generation/reconstruction
mode with its sent information (experiments/sample.py --mode all). Then every model's training step is timed
round-robin in one process (median of --time-steps steps at the training batch size), so the speed ratios do not
depend on the machine's drift during the long fits. Prints two markdown tables and writes OUT/bench_selfvae.json.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch
from bench_quality import ensure_quality_run

import ppl_ssl
from ppl_ssl.reporting import markdown_table, round_robin_medians
from ppl_ssl.storage import atomic_write_json
from ppl_ssl.selfvae.modes import MODES
from ppl_ssl.train.setup import build_train_step

HERE = Path(__file__).resolve().parent
MODELS = ["vae-logistic", "selfvae-downscale", "selfvae-sketch", "selfvae-hier"]
# The paper's Table 1 (test bpd; RE and KL in nats per image), for the shape of the result.
PAPER = """| dataset | model | bpd | RE | KL |
|---|---|---|---|---|
| CIFAR-10 | VAE | 3.51 | 5540 | 1966 |
| CIFAR-10 | selfVAE-downscale | 3.65 | 6348 | 1438 |
| CelebA | VAE | 3.12 | 24096 | 2502 |
| CelebA | selfVAE-sketch | 3.24 | 23797 | 3816 |
| CelebA | selfVAE-downscale-3lvl | 2.88 | 23336 | 1214 |
| Imagenette64 | VAE | 3.85 | 30809 | 1961 |
| Imagenette64 | selfVAE-downscale-3lvl | 3.70 | 30394 | 1171 |"""


def run_script(script: str, *args: str) -> None:
    command = [sys.executable, str(HERE / script), *args]
    if subprocess.run(command, stdout=subprocess.DEVNULL).returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} failed")


def step_seconds(models: list[str], steps: int, batch: int, device: torch.device) -> dict[str, float]:
    """Median seconds of fit's training step (ppl_ssl.train.step.TrainStep: views, loss, backward, Adam) per model,
    timed round-robin on one batch."""
    def make_step(preset: str):
        config = ppl_ssl.build_config(preset, {"train.device": str(device)})
        step = build_train_step(config, (1, 28, 28), device)
        images = torch.randint(0, 256, (batch, 1, 28, 28), dtype=torch.uint8, device=device)
        return lambda: step(images)

    return round_robin_medians({m: make_step(m) for m in models}, steps, device)


def level_terms(metrics: dict) -> str:
    """'re_y1 −…, kl_u …' in nats per image, from metrics.json's elbo_terms."""
    return ", ".join(f"{name} {value:.0f}" if abs(value) >= 10 else f"{name} {value:.1f}"
                     for name, value in metrics.get("elbo_terms", {}).items())


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--nll-samples", type=int, default=512, help="importance samples per test image (the paper: 512)")
    parser.add_argument("--nll-images", type=int, default=1000, help="first N test images (0: all 10,000)")
    parser.add_argument("--quality-images", type=int, default=1000, help="test images scored in every mode")
    parser.add_argument("--time-steps", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", default="runs/selfvae")
    args = parser.parse_args(argv)
    results = {}
    for model in args.models:
        run = ensure_quality_run(model, args.epochs, 0, "fashion-mnist", args.set, Path(args.out))
        metrics = json.loads((run / "metrics.json").read_text())
        if metrics.get("nll_samples") != args.nll_samples or metrics.get("nll_images") != (args.nll_images or 10_000):
            run_script("evaluate.py", str(run), "--nll", "--nll-samples", str(args.nll_samples), "--nll-images",
                       str(args.nll_images), "--only-generative", "--no-figures", "--device", args.device)
        if not (run / "modes.json").exists():
            run_script("sample.py", str(run), "--mode", "all", "--quality-images", str(args.quality_images),
                       "--device", args.device)
        metrics = json.loads((run / "metrics.json").read_text())
        modes = {m["mode"]: m for m in json.loads((run / "modes.json").read_text())["modes"]}
        results[model] = {"metrics": metrics, "modes": modes, "epoch_seconds": metrics["train_seconds"] / metrics["epochs"]}
        print(f"{model}: test bpd {metrics['test_bpd']:.3f} ({metrics['nll_samples']} samples, {metrics['nll_images']} images)",
              flush=True)

    device = torch.device(args.device)
    batch = ppl_ssl.build_config(args.models[0], {}).train.batch_size
    for model, seconds in step_seconds(args.models, args.time_steps, batch, device).items():
        results[model]["step_seconds"] = seconds

    def parts(m: dict) -> str:
        return " / ".join(f"{100 * v:.1f}" for k, v in m.items() if k.startswith("knn_accuracy_"))

    quality = markdown_table(
        ["model", "epochs", "test bpd (IW)", "test bpd (ELBO)", "k̂>0.7", "terms per level (nats/image)", "kNN", "kNN u / z_k",
         "s/epoch (fit)", "ms/step (timed)"],
        [[model, r["metrics"]["epochs"], f"{r['metrics']['test_bpd']:.3f}", f"{r['metrics'].get('test_elbo_bpd', float('nan')):.3f}",
          f"{r['metrics']['psis_khat_gt_0_7']:.3f}", level_terms(r["metrics"]), f"{100 * r['metrics']['knn_accuracy']:.1f}",
          parts(r["metrics"]) or "–", f"{r['epoch_seconds']:.0f}", f"{1e3 * r['step_seconds']:.0f}"]
         for model, r in results.items()])
    mode_names = [m for m in MODES if any(m in r["modes"] for r in results.values())]
    modes = markdown_table(["model", *(f"{m} PSNR dB (sent %)" for m in mode_names)],
                           [[model, *(f"{r['modes'][m]['psnr']:.1f} ({100 * r['modes'][m]['sent_share']:.1f})" if m in r["modes"] else "–"
                                      for m in mode_names)] for model, r in results.items()])
    print(f"\nFashion-MNIST, {args.epochs} epochs, test bpd from {args.nll_samples} importance samples per image; "
          f"device {device} ({torch.get_num_threads()} threads), step = {batch} images\n")
    print(quality, "\n", modes, "\n\nThe paper's Table 1 (32/64 px colour, ~40M-parameter nets):\n", PAPER, sep="\n")
    atomic_write_json(Path(args.out) / "bench_selfvae.json", {
        model: {"epoch_seconds": r["epoch_seconds"], "step_seconds": r["step_seconds"], "modes": r["modes"],
                **{k: v for k, v in r["metrics"].items() if not isinstance(v, (list, dict))},
                "elbo_terms": r["metrics"].get("elbo_terms")} for model, r in results.items()})
    return results


if __name__ == "__main__":
    main()
