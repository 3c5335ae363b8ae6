"""Recompute the metrics (and figures) of a finished run:

    python experiments/evaluate.py runs/vae                        # representation + generative metrics
    python experiments/evaluate.py runs/vae --nll --nll-samples 1000   # adds test NLL, bits/dim, PSIS k-hat
    python experiments/evaluate.py runs/vae --nll --only-generative    # keeps the stored probe scores
"""
# The command lives in the package (ppl_ssl/commands/evaluate.py) so that the installed `ppl-ssl evaluate` runs the
# same code; this script keeps `python experiments/evaluate.py ...` working from a checkout.
from ppl_ssl.commands.evaluate import *  # noqa: F401,F403
from ppl_ssl.commands.evaluate import main

if __name__ == "__main__":
    main()
