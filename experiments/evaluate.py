"""Recompute the metrics (and figures) of a finished run:  python experiments/evaluate.py runs/vae"""
from __future__ import annotations

import argparse
import json

import ppl_ssl
from ppl_ssl.cli import user_errors


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", help="run folder written by experiments/fit.py")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--no-figures", action="store_true")
    args = parser.parse_args(argv)
    with user_errors():
        metrics = ppl_ssl.evaluate_run(args.run, device=args.device, make_figures=not args.no_figures)
    print(json.dumps(metrics, indent=2, sort_keys=True))
    return metrics


if __name__ == "__main__":
    main()
