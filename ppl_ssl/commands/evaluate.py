"""Recompute the metrics (and figures) of a finished run:

    python experiments/evaluate.py runs/vae                        # representation + generative metrics
    python experiments/evaluate.py runs/vae --nll --nll-samples 1000   # adds test NLL, bits/dim, PSIS k-hat
    python experiments/evaluate.py runs/vae --nll --only-generative    # keeps the stored probe scores
"""
from __future__ import annotations

import argparse
import json

import ppl_ssl
from ppl_ssl.cli import user_errors
from ppl_ssl.errors import ConfigError


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run folder written by experiments/fit.py")
    parser.add_argument("--nll", action="store_true", help="estimate the importance-weighted test NLL (test_nll, test_bpd, psis_khat_gt_0_7)")
    parser.add_argument("--nll-samples", type=int, default=1000, help="importance samples per test image (default 1000)")
    parser.add_argument("--nll-images", type=int, default=0, help="first N test images only (default 0: all)")
    parser.add_argument("--only-generative", action="store_true", help="skip kNN/probes/GMM, keep their stored values")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--no-figures", action="store_true")
    args = parser.parse_args(argv)
    with user_errors():
        if args.nll_samples < 1 or args.nll_images < 0:
            raise ConfigError(f"--nll-samples {args.nll_samples} / --nll-images {args.nll_images}: need at least 1 sample and 0 (all) or more images")
        metrics = ppl_ssl.evaluate_run(args.run, device=args.device, make_figures=not args.no_figures,
                                       nll_samples=args.nll_samples if args.nll else None,
                                       nll_images=args.nll_images if args.nll else None,
                                       representation=not args.only_generative)
    print(json.dumps(metrics, indent=2, sort_keys=True))
    return metrics


if __name__ == "__main__":
    main()
