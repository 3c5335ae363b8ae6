"""A regression check of what the code computes: fixed-seed one-epoch runs of seven presets on a subset of
Fashion-MNIST, each reduced to a fingerprint (SHA-256 of every trained parameter and buffer, and every metric in
metrics.json except wall-clock times).

    python experiments/check_identity.py --record docs/identity/fingerprints.json   # write the fingerprints
    python experiments/check_identity.py --check docs/identity/fingerprints.json    # compare: exit 1 on a difference

A refactoring that changes no arithmetic leaves every fingerprint bit-identical. The runs are fp32 (bf16 results
depend on the CPU's instructions) and go through the command line (`experiments/fit.py`), so a change of config
spelling shows up as a failure here unless the presets follow it. About 3 minutes on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

PRESETS = ["vae", "simvae-quick", "iwae", "crvae-contrastive", "selfvae-downscale", "simclr", "mocov2"]
# one epoch on 512 training images, small evaluation budgets: the whole evaluation still runs
ARGUMENTS = ["--epochs", "1", "--train-subset", "512", "--seed", "7", "--precision", "fp32", "--batch-size", "64",
             "--no-figures", "--quiet", "--set", "eval.probe_epochs=2", "--set", "eval.gmm_n_init=1",
             "--set", "eval.tsne_points=0", "--set", "eval.diagnostics_points=200", "--set", "data.val_size=500",
             "--set", "train.checkpoint_minutes=0"]
NLL = ["--set", "eval.nll_samples=8", "--set", "eval.nll_test_images=100"]


def without_times(value):
    """Metrics minus wall-clock figures (keys naming seconds), which differ from run to run."""
    if isinstance(value, dict):
        return {k: without_times(v) for k, v in value.items() if "seconds" not in k}
    if isinstance(value, list):
        return [without_times(v) for v in value]
    return value


def fingerprint(run: Path) -> dict:
    state = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)["system"]
    tensors = {name: hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]
               for name, t in sorted(state.items())}
    metrics = json.loads((run / "metrics.json").read_text())
    return {"parameters": tensors, "metrics": without_times(metrics)}


def run_preset(preset: str, root: Path) -> dict:
    out = root / preset
    extra = NLL if preset not in ("simclr", "mocov2") else []
    command = [sys.executable, str(Path(__file__).with_name("fit.py")), "--model", preset, "--out", str(out),
               *ARGUMENTS, *extra]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return fingerprint(out)


def differences(saved: dict, now: dict, prefix: str = "") -> list[str]:
    if isinstance(saved, dict) and isinstance(now, dict):
        found = []
        for key in sorted(set(saved) | set(now)):
            if key not in now or key not in saved:
                found.append(f"{prefix}{key}: {'missing now' if key not in now else 'new'}")
            else:
                found += differences(saved[key], now[key], f"{prefix}{key}.")
        return found
    return [] if saved == now else [f"{prefix[:-1]}: recorded {saved!r}, now {now!r}"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--record", type=Path, help="write the fingerprints to this JSON file")
    action.add_argument("--check", type=Path, help="compare with the fingerprints in this JSON file")
    parser.add_argument("--presets", nargs="+", default=PRESETS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        prints = {}
        for preset in args.presets:
            prints[preset] = run_preset(preset, Path(tmp))
            print(f"{preset}: {len(prints[preset]['parameters'])} tensors, {len(prints[preset]['metrics'])} metrics", flush=True)
    if args.record:
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(json.dumps(prints, indent=1, sort_keys=True) + "\n")
        print(f"recorded {args.record}")
        return 0
    saved = json.loads(args.check.read_text())
    failed = 0
    for preset in args.presets:
        found = differences(saved[preset], prints[preset])
        print(f"{preset}: {'bit-identical' if not found else f'{len(found)} differences'}")
        for line in found[:10]:
            print(f"    {line}")
        failed += bool(found)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
