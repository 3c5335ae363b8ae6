"""fp32 against bf16 (`train.precision`): epoch seconds and representation quality.

    python experiments/bench_precision.py                      # speed (interleaved epochs) + quality (3 seeds)
    python experiments/bench_precision.py --skip-quality --repeats 3

Speed: one real training epoch of each (model, precision) on the same Fashion-MNIST images, interleaved in one
process (VAE fp32, VAE bf16, SimVAE fp32, SimVAE bf16, then again), so every ratio sees the same machine state;
it prints the median epoch seconds and the bf16/fp32 ratio. Quality: each (model, precision, seed) is an ordinary
run folder under --out (finished runs are reused, killed ones resume) trained --epochs epochs and evaluated;
the table gives mean ± s.e. over seeds of kNN, MLP-probe and GMM accuracy and the test ELBO per image, and the
bf16 − fp32 difference in units of its standard error.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
from pathlib import Path

import torch

import ppl_ssl
from ppl_ssl.cli import user_errors
from ppl_ssl.precision import cpu_bf16_speedup, cpu_has_native_bf16
from ppl_ssl.reporting import ensure_run, epoch_seconds, format_mean_se, markdown_table, mean_and_standard_error
from ppl_ssl.storage import atomic_write_json
from ppl_ssl.runtime import resolve_device

QUALITY = [("knn_accuracy", "kNN", 100), ("mlp_probe_accuracy", "MP", 100), ("gmm_accuracy", "GMM", 100),
           ("test_elbo", "test ELBO (nats/image)", 1)]
# evaluation settings of the quality runs (the README's comparison budget: probes 30 epochs, GMM 2 initialisations)
EVAL = ["eval.probe_epochs=30", "eval.gmm_n_init=2", "eval.tsne_points=0", "eval.style_probe=false", "eval.figures=false"]


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    return f"{model}, {torch.get_num_threads()} threads, AVX512-BF16/AMX-BF16 flag: {cpu_has_native_bf16()}"


VARIANTS = {"fp32": ["train.precision='fp32'"], "bf16": ["train.precision='bf16'"],
            "fp32 compiled": ["train.precision='fp32'", "train.compile=true"]}


def interleaved_epoch_seconds(models: list[str], variants: list[str], repeats: int, device: str, train_subset: int) -> tuple[dict, dict, int]:
    """Median seconds of one training epoch per (model, variant), timed interleaved; a compiled variant trains two
    epochs and counts the second (the first also compiles: its extra seconds are returned apart)."""
    data = None
    seconds: dict[tuple[str, str], list[float]] = {}
    compiling: dict[tuple[str, str], list[float]] = {}
    with user_errors():
        for _ in range(repeats):
            for model in models:
                for variant in variants:
                    epochs = 2 if "compiled" in variant else 1
                    config = ppl_ssl.build_config(model, {"train.epochs": epochs, "train.device": device,
                                                          "data.train_subset": train_subset}, VARIANTS[variant])
                    history, data = epoch_seconds(config, data)
                    seconds.setdefault((model, variant), []).append(history[-1])
                    if epochs == 2:
                        compiling.setdefault((model, variant), []).append(history[0] - history[1])
    median = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    return ({k: median(v) for k, v in seconds.items()}, {k: median(v) for k, v in compiling.items()}, len(data.train_x))


def quality_runs(models: list[str], seeds: int, epochs: int, subset: int, device: str, root: Path) -> dict:
    results: dict[tuple[str, str], list[dict]] = {}
    for model in models:
        for seed in range(1234, 1234 + seeds):  # seed-major: an interrupted benchmark leaves complete pairs
            for precision in ("fp32", "bf16"):
                out = ensure_run(model, root / f"{model}-{precision}-e{epochs}-n{subset or 'all'}-s{seed}",
                                 {"train.epochs": epochs, "train.seed": seed, "train.precision": precision, "train.device": device,
                                  "data.train_subset": subset}, EVAL)
                results.setdefault((model, precision), []).append(json.loads((out / "metrics.json").read_text()))
    return results


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["vae", "simvae"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved epochs per (model, precision); the median is shown")
    parser.add_argument("--train-subset", type=int, default=0, help="images per speed epoch (0: all 55k)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of each quality run")
    parser.add_argument("--quality-subset", type=int, default=0, help="training images of each quality run (0: all 55k)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="also time fp32 with train.compile = true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--out", default="runs/precision")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    report: dict = {"device": device_name(device), "torch": torch.__version__}
    print(f"device: {report['device']}; torch {torch.__version__}")
    if device.type == "cpu":
        report["cpu_matmul_bf16_speedup"] = cpu_bf16_speedup()
        print(f"1280x500 @ 500x2000 matrix product: fp32 time / bf16 time = {report['cpu_matmul_bf16_speedup']:.2f}")
    if not args.skip_speed:
        variants = ["fp32", "bf16", *(["fp32 compiled"] if args.compile else [])]
        medians, compiling, images = interleaved_epoch_seconds(args.models, variants, args.repeats, args.device, args.train_subset)
        rows = []
        for model in args.models:
            fp32 = medians[(model, "fp32")]
            row = [model, *(f"{medians[(model, v)]:.1f}" for v in variants), f"{medians[(model, 'bf16')] / fp32:.2f}"]
            if args.compile:
                row += [f"{medians[(model, 'fp32 compiled')] / fp32:.2f}", f"{compiling[(model, 'fp32 compiled')]:.0f}"]
            rows.append(row)
            report[f"epoch_seconds_{model}"] = {v: medians[(model, v)] for v in variants}
            if args.compile:
                report[f"compile_seconds_{model}"] = compiling[(model, "fp32 compiled")]
        print(f"\nepoch seconds ({images} images, median of {args.repeats} interleaved epochs)")
        print(markdown_table(["model", *(f"{v} s/epoch" for v in variants), "bf16 / fp32",
                              *(["compiled / fp32", "compile s"] if args.compile else [])], rows))
    if not args.skip_quality:
        results = quality_runs(args.models, args.seeds, args.epochs, args.quality_subset, args.device, Path(args.out))
        rows = []
        for model in args.models:
            for precision in ("fp32", "bf16"):
                runs = results[(model, precision)]
                rows.append([model, precision, *(format_mean_se([m[k] for m in runs], scale, 1 if scale == 100 else 1)
                                                 for k, _, scale in QUALITY)])
            gaps = []
            for k, label, scale in QUALITY:
                fp32 = [scale * m[k] for m in results[(model, "fp32")]]
                bf16 = [scale * m[k] for m in results[(model, "bf16")]]
                (m32, se32), (m16, se16) = mean_and_standard_error(fp32), mean_and_standard_error(bf16)
                se = math.sqrt(se32**2 + se16**2)
                gaps.append(f"{m16 - m32:+.2f} ({(m16 - m32) / se:+.1f} s.e.)" if se > 0 else f"{m16 - m32:+.2f}")
                report.setdefault("quality", {}).setdefault(model, {})[k] = {"fp32": fp32, "bf16": bf16}
            rows.append([model, "bf16 − fp32", *gaps])
        print(f"\nquality after {args.epochs} epochs on {args.quality_subset or 'all'} training images, {args.seeds} seeds (mean ± s.e.)")
        print(markdown_table(["model", "precision", *(label for _, label, _ in QUALITY)], rows))
    saved = Path(args.out) / "bench_precision.json"  # merged with an earlier part (--skip-speed / --skip-quality)
    previous = json.loads(saved.read_text()) if saved.exists() else {}
    saved.parent.mkdir(parents=True, exist_ok=True)
    if "quality" in previous and "quality" in report:  # one model per call (--models) adds to the others
        report["quality"] = {**previous["quality"], **report["quality"]}
    atomic_write_json(saved, {**previous, **report})
    return report


if __name__ == "__main__":
    with user_errors():  # a bad preset or --set: one line, not a traceback
        main()
