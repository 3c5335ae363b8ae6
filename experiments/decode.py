"""Fit a decoder to a run's frozen encoder, so that any representation (SimCLR, VICReg, MoCo v2 ...) can be looked at:

    python experiments/decode.py runs/simclr          # -> RUN/posthoc_decoder.pt, figures/posthoc_reconstructions.png

The run's decoder architecture, mean squared error, Adam (lr 1e-4), early stopping on the validation MSE (the
SimVAE paper's protocol). The test MSE goes into metrics.json as posthoc_reconstruction_mse.
"""
# The command lives in the package (ppl_ssl/commands/decode.py) so that the installed `ppl-ssl decode` runs the
# same code; this script keeps `python experiments/decode.py ...` working from a checkout.
from ppl_ssl.commands.decode import *  # noqa: F401,F403
from ppl_ssl.commands.decode import main

if __name__ == "__main__":
    main()
