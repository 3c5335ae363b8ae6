"""Recompute the metrics (and figures) of a finished run:

    ppl-ssl evaluate runs/vae                        # representation + generative metrics
    ppl-ssl evaluate runs/vae --nll --nll-samples 1000   # adds test NLL, bits/dim, PSIS k-hat
    ppl-ssl evaluate runs/vae --nll --only-generative    # keeps the stored probe scores
    ppl-ssl evaluate runs/vae --amortisation-gap          # ELBO(encoder), ELBO(per-image q), log p(x)
    ppl-ssl evaluate runs/vae --nll ais --ais-steps 1000 --nll-images 1000 --bdmc-images 100
                                                         # annealed importance sampling, BDMC bounds
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import ppl_ssl
from ppl_ssl.cli import ArgumentParser, argument, user_errors
from ppl_ssl.errors import ConfigError
from ppl_ssl.options import at_least, between, positive


def main(argv=None) -> dict:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run folder written by ppl-ssl fit")
    parser.add_argument("--nll", nargs="?", const="iw", choices=("iw", "ais"),
                        help="estimate the test NLL: iw (the default) by importance weighting (test_nll, test_bpd, "
                             "psis_khat_gt_0_7); ais by annealed importance sampling with HMC, only that (ais_test_nll, "
                             "the IW NLL at the same evaluations, acceptance, BDMC bounds)")
    parser.add_argument("--nll-samples", type=argument(int, at_least(1, "samples")), default=1000, help="importance samples per test image (default 1000)")
    parser.add_argument("--nll-images", type=argument(int, positive(zero="all")), default=0, help="first N test images only (default 0: all)")
    ais = parser.add_argument_group("annealed importance sampling (--nll ais)")
    ais.add_argument("--ais-steps", type=argument(int, at_least(1)), default=1000, help="intermediate distributions T (default 1000)")
    ais.add_argument("--ais-chains", type=argument(int, at_least(1)), default=1, help="chains per image K (default 1)")
    ais.add_argument("--ais-leapfrog", type=argument(int, at_least(1)), default=2, help="leapfrog steps per HMC transition (default 2)")
    ais.add_argument("--ais-acceptance", type=argument(float, between(0, 1, low_open=True, high_open=True)), default=0.8,
                     help="target acceptance rate of the step sizes' pilot run (default 0.8)")
    ais.add_argument("--ais-start", choices=("guide", "prior"), default="guide", help="the path's start: q(z | x) (default) or p(z)")
    ais.add_argument("--ais-batch", type=argument(int, at_least(1)), default=1000, help="images per batch (default 1000)")
    ais.add_argument("--bdmc-images", type=argument(int, positive(zero="none")), default=100,
                     help="data simulated from the model for the BDMC bounds (default 100; 0: none)")
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
        if args.nll == "ais":
            with run_lock(Path(args.run), create=False):
                return annealed_likelihood(args)
        metrics = ppl_ssl.evaluate_run(args.run, device=args.device, make_figures=not args.no_figures,
                                       nll_samples=args.nll_samples if args.nll == "iw" else None,
                                       nll_images=args.nll_images if args.nll == "iw" else None,
                                       representation=not args.only_generative, progress=not args.quiet)
    print(json.dumps(metrics, indent=2, sort_keys=True))
    return metrics


def annealed_likelihood(args) -> dict:
    """AIS NLL (and BDMC bounds) of a run's test images, merged into metrics.json."""
    import pyro

    from ppl_ssl.evaluation.ais import AISSettings, held_out_ais
    from ppl_ssl.storage import atomic_write_json
    from ppl_ssl.train.setup import load_data_for

    run = ppl_ssl.load_run(args.run, device=args.device)
    if not run.system.can_decode:
        raise ConfigError(f"run {args.run} was trained by method '{run.config.method.kind}', which has no generative model: "
                          f"no likelihood to estimate")
    settings = AISSettings(steps=args.ais_steps, chains=args.ais_chains, leapfrog=args.ais_leapfrog,
                           target_acceptance=args.ais_acceptance, start=args.ais_start, batch_size=args.ais_batch)
    data = load_data_for(run.config, run.device)
    images = data.test_x[: args.nll_images] if args.nll_images else data.test_x
    pyro.set_rng_seed(run.config.train.seed)
    result = held_out_ais(run.system, images, settings, bdmc_images=args.bdmc_images, progress=not args.quiet)
    atomic_write_json(run.paths.metrics, {**run.metrics, **result})
    print(json.dumps(result, indent=2, sort_keys=True))
    return result


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
