"""Test NLL, bits/dim and posterior diagnostics of several presets at one training budget, as a markdown table,
with the time and peak memory of each importance-weighted NLL evaluation (K samples on the whole test split).

    python experiments/bench_likelihood.py --models vae iwae vae-iaf vamp simvae --epochs 5 --samples 1000

Runs are normal run folders under --out (shared with bench_quality.py, reused when finished). Each NLL is
computed in its own process (experiments/evaluate.py --nll --only-generative), so its wall time and peak
resident memory are that evaluation's alone.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench_quality import ensure_quality_run

from ppl_ssl.reporting import markdown_table

HERE = Path(__file__).resolve().parent
COLUMNS = [("test_nll", "NLL (nats)", "{:.1f}"), ("test_bpd", "bits/dim", "{:.3f}"), ("psis_khat_gt_0_7", "k̂>0.7", "{:.3f}"),
           ("kl", "KL", "{:.2f}"), ("mutual_information", "MI", "{:.2f}"), ("aggregate_kl", "KL(q(z)‖p)", "{:.2f}"),
           ("active_units", "AU", "{}"), ("reconstruction_mse", "MSE", "{:.4f}")]


def timed_nll(run: Path, samples: int, images: int, device: str) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MiB) of one evaluate.py --nll process."""
    command = [sys.executable, str(HERE / "evaluate.py"), str(run), "--nll", "--nll-samples", str(samples),
               "--nll-images", str(images), "--only-generative", "--no-figures", "--device", device]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} exited with {process.returncode}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["vae", "iwae", "vae-iaf", "vamp", "simvae"])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train-subset", type=int, default=0)
    parser.add_argument("--samples", type=int, default=1000, help="importance samples per test image")
    parser.add_argument("--images", type=int, default=0, help="test images (0: all)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", default="runs/quality")
    args = parser.parse_args(argv)
    rows = []
    for model in args.models:
        run = ensure_quality_run(model, args.epochs, args.train_subset, "fashion-mnist", args.set, Path(args.out))
        seconds, peak_mib = timed_nll(run, args.samples, args.images, args.device)
        metrics = json.loads((run / "metrics.json").read_text())
        print(f"{model}: NLL with K={args.samples} on {metrics['nll_images']} images in {seconds:.0f}s, peak RSS {peak_mib:.0f} MiB",
              flush=True)
        rows.append((model, metrics, seconds, peak_mib))
    table = markdown_table(["model", "epochs", *(label for _, label, _ in COLUMNS), "NLL time s", "peak MiB"], [
        [model, m.get("epochs", "?"), *(fmt.format(m[k]) if m.get(k) is not None else "–" for k, _, fmt in COLUMNS),
         f"{seconds:.0f}", f"{peak:.0f}"] for model, m, seconds, peak in rows])
    print(table)
    return table


if __name__ == "__main__":
    main()
