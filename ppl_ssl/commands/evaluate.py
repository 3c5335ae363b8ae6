"""Recompute the metrics (and figures) of a finished run:

    ppl-ssl evaluate runs/vae                        # representation + generative metrics
    ppl-ssl evaluate runs/vae --nll --nll-samples 1000   # adds test NLL, bits/dim, PSIS k-hat
    ppl-ssl evaluate runs/vae --nll --only-generative    # keeps the stored probe scores
    ppl-ssl evaluate runs/vae --amortisation-gap          # ELBO(encoder), ELBO(per-image q), log p(x)
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import ppl_ssl
from ppl_ssl.cli import ArgumentParser, argument, user_errors
from ppl_ssl.errors import ConfigError
from ppl_ssl.options import at_least, positive


def main(argv=None) -> dict:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run folder written by ppl-ssl fit")
    parser.add_argument("--nll", action="store_true", help="estimate the importance-weighted test NLL (test_nll, test_bpd, psis_khat_gt_0_7)")
    parser.add_argument("--nll-samples", type=argument(int, at_least(1, "samples")), default=1000, help="importance samples per test image (default 1000)")
    parser.add_argument("--nll-images", type=argument(int, positive(zero="all")), default=0, help="first N test images only (default 0: all)")
    parser.add_argument("--only-generative", action="store_true", help="skip kNN/probes/GMM, keep their stored values")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--no-figures", action="store_true", help="skip the figures")
    parser.add_argument("--quiet", action="store_true", help="only the result and errors: no progress bars, stage lines or data-reading bars")
    parser.add_argument("--amortisation-gap", action="store_true",
                        help="only the amortisation and approximation gaps (Cremer et al. 2018) on --gap-images test images")
    parser.add_argument("--gap-images", type=argument(int, at_least(1)), default=100, help="test images for --amortisation-gap (default 100)")
    parser.add_argument("--gap-steps", type=argument(int, at_least(1)), default=300, help="SVI steps of each per-image Gaussian (default 300)")
    parser.add_argument("--gap-samples", type=argument(int, at_least(1)), default=500, help="importance samples per image (default 500)")
    args = parser.parse_args(argv)
    # imported after parsing: help and argument errors answer without loading torch
    from ppl_ssl.progress import silenced
    from ppl_ssl.storage import run_lock
    with user_errors(), silenced(args.quiet):
        if args.amortisation_gap:
            with run_lock(Path(args.run), create=False):  # not while a fit still trains the run
                return amortisation_gap(args)
        metrics = ppl_ssl.evaluate_run(args.run, device=args.device, make_figures=not args.no_figures,
                                       nll_samples=args.nll_samples if args.nll else None,
                                       nll_images=args.nll_images if args.nll else None,
                                       representation=not args.only_generative, progress=not args.quiet)
    print(json.dumps(metrics, indent=2, sort_keys=True))
    return metrics


def amortisation_gap(args) -> dict:
    """Writes RUN/amortisation_gap.json (per image) and merges the summary into metrics.json."""
    from ppl_ssl.evaluation.amortisation import run_amortisation_gaps
    from ppl_ssl.storage import atomic_write_json
    from ppl_ssl.train.setup import load_data_for

    run = ppl_ssl.load_run(args.run, device=args.device)
    if not run.system.can_decode:
        raise ConfigError(f"run {args.run} was trained by method '{run.config.method.kind}', which has no generative model: "
                          f"no ELBO, so no amortisation gap")
    data = load_data_for(run.config, run.device)
    result = run_amortisation_gaps(run.system, data.test_x[: args.gap_images], steps=args.gap_steps,
                                   num_samples=args.gap_samples, seed=run.config.train.seed)
    atomic_write_json(run.paths.root / "amortisation_gap.json", result)
    metrics = {**run.metrics, **result["summary"]}
    atomic_write_json(run.paths.metrics, metrics)
    print(json.dumps(result["summary"], indent=2, sort_keys=True))
    return result["summary"]


if __name__ == "__main__":
    main()
