"""Data-parallel throughput: the same fit in one process and under torchrun with N ranks, images per second.

    python experiments/bench_ddp.py [--model vae --ranks 1 2 --train-subset 20000 --device cpu]

Each configuration is a real `experiments/fit.py` run (torchrun for more than one rank; gloo on the CPU, NCCL on
GPUs), one epoch after a warm-up epoch, same global batch; the script reads the second epoch's seconds from the
run's history and prints images/s and the scaling efficiency (speed-up / ranks). On a 2-core CPU expect none: two
ranks share the two cores that one process's two threads already use, and each step adds an all-reduce of the
gradients. On a GPU machine, `--device cuda --ranks 1` is one NCCL rank through torchrun.

Evaluation runs once, on rank 0, while the other ranks wait: the last column says what that costs (the bench's
evaluation is shortened: one probe epoch, one GMM initialisation, no t-SNE).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ppl_ssl.reporting import markdown_table

ROOT = Path(__file__).resolve().parents[1]


def epoch_seconds(model: str, ranks: int, device: str, train_subset: int, torchrun: bool) -> tuple[float, float]:
    """(seconds of the second epoch, seconds of the evaluation that rank 0 runs alone)."""
    with tempfile.TemporaryDirectory() as out:
        launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}"]
                    if torchrun else [sys.executable])
        args = ["experiments/fit.py", "--model", model, "--epochs", "2", "--train-subset", str(train_subset), "--device", device,
                "--out", out, "--quiet", "--no-figures", "--set=eval.probe_epochs=1", "--set=eval.gmm_n_init=1",
                "--set=eval.tsne_points=0", "--set=eval.style_probe=false", "--set=eval.diagnostics_points=0"]
        result = subprocess.run([*launcher, *args], cwd=ROOT, capture_output=True, text=True, env={**os.environ})
        if result.returncode != 0:
            sys.exit(f"{model} with {ranks} rank(s) failed:\n{result.stderr[-3000:]}")
        metrics = json.loads((Path(out) / "metrics.json").read_text())
        return json.loads((Path(out) / "history.json").read_text())[-1]["seconds"], metrics["eval_seconds"]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="vae")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--train-subset", type=int, default=20000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--single-process", action="store_true", help="run the 1-rank case without torchrun")
    args = parser.parse_args(argv)
    timed = {r: epoch_seconds(args.model, r, args.device, args.train_subset, torchrun=not (r == 1 and args.single_process))
             for r in args.ranks}
    seconds = {r: epoch for r, (epoch, _) in timed.items()}
    base = seconds[min(args.ranks)] * min(args.ranks)
    rows = [[r, f"{seconds[r]:.1f}", f"{args.train_subset / seconds[r]:,.0f}", f"{base / seconds[r] / r:.2f}"] for r in args.ranks]
    print(f"{args.model}, {args.train_subset} images per epoch, device {args.device} "
          f"({'gloo' if args.device == 'cpu' else 'nccl'}), {os.cpu_count()} CPU cores")
    print(markdown_table(["ranks", "s/epoch", "images/s", "scaling efficiency", "evaluation s (rank 0)"],
                         [[*row, f"{timed[r][1]:.1f}"] for row, r in zip(rows, args.ranks)]))
    return seconds


if __name__ == "__main__":
    main()
