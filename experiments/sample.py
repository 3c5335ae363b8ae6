"""Generate from a fitted run with an ex-post sampler fitted on its training codes:

    python experiments/sample.py runs/vae --sampler gmm --n 64

or, for a selfVAE run, in its generation / reconstruction modes (figures/modes.png, figures/
quality_vs_sent_information.png and RUN/modes.json with PSNR against the bits each mode sends):

    python experiments/sample.py runs/selfvae-downscale --mode all
    python experiments/sample.py runs/s --mode generation|conditional-generation|conditional-reconstruction|reconstruction-1|reconstruction-2|super-resolution

Samplers: prior (the model's own p(z)), gmm (Gaussian mixture), maf (masked autoregressive flow). A fitted
sampler is kept in RUN/samplers/NAME.pt and reused (--refit fits it again); the figure goes to
RUN/figures/samples_NAME.png.
"""
# The command lives in the package (ppl_ssl/commands/sample.py) so that the installed `ppl-ssl sample` runs the
# same code; this script keeps `python experiments/sample.py ...` working from a checkout.
from ppl_ssl.commands.sample import *  # noqa: F401,F403
from ppl_ssl.commands.sample import main

if __name__ == "__main__":
    main()
