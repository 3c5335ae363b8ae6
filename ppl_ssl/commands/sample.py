"""Generate from a fitted run with an ex-post sampler fitted on its training codes:

    ppl-ssl sample runs/vae --sampler gmm --n 64

or, for a selfVAE run, in its generation / reconstruction modes (figures/modes.png, figures/
quality_vs_sent_information.png and RUN/modes.json with PSNR against the bits each mode sends):

    ppl-ssl sample runs/selfvae-downscale --mode all
    ppl-ssl sample runs/s --mode generation|conditional-generation|conditional-reconstruction|reconstruction-1|reconstruction-2|super-resolution

Samplers: prior (the model's own p(z)), gmm (Gaussian mixture), maf (masked autoregressive flow). A fitted
sampler is kept in RUN/samplers/NAME.pt and reused (--refit fits it again); the figure goes to
RUN/figures/samples_NAME.png.
"""
from __future__ import annotations

import argparse
import json

from ppl_ssl.cli import argument, ArgumentParser, stored_names, user_errors
from ppl_ssl.options import at_least, random_seed


def main(argv=None) -> dict:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run folder written by ppl-ssl fit")
    parser.add_argument("--sampler", default="gmm", help=f"one of: {', '.join(stored_names('samplers'))}")
    parser.add_argument("--mode", nargs="+", help=f"selfVAE runs: 'all' or modes among {', '.join(stored_names('selfvae_modes'))}")
    parser.add_argument("--n", type=argument(int, at_least(1, "images")), default=64, help="number of images (--mode: 8 by default)")
    parser.add_argument("--quality-images", type=argument(int, at_least(1)), default=1000, help="--mode: test images scored for quality vs sent bits")
    parser.add_argument("--refit", action="store_true", help="fit the sampler again even if RUN/samplers/NAME.pt exists")
    parser.add_argument("--seed", type=argument(int, random_seed()), default=0, help="seeds the drawn codes (default 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    args = parser.parse_args(argv)
    # imported after parsing: help and argument errors answer without loading torch
    from ppl_ssl.pipeline import sample_run
    from ppl_ssl.registry import SAMPLERS
    from ppl_ssl.selfvae.modes import check_modes
    from ppl_ssl.selfvae.run import selfvae_modes_run
    with user_errors():
        if args.mode:
            modes = None if args.mode == ["all"] else args.mode  # None: every mode the run's model has
            check_modes(modes or [])  # the names, before anything is loaded
            n = args.n if args.n != 64 else 8
            result = selfvae_modes_run(args.run, modes, n, args.device, args.seed, args.quality_images)
        else:
            SAMPLERS[args.sampler]  # a one-line error naming the choices, before anything is loaded
            result = sample_run(args.run, args.sampler, args.n, args.refit, args.device, args.seed)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
