"""Fit a model preset, evaluate it and draw its figures:  python experiments/fit.py --model simvae"""
# The command lives in the package (ppl_ssl/commands/fit.py) so that the installed `ppl-ssl fit` runs the
# same code; this script keeps `python experiments/fit.py ...` working from a checkout.
from ppl_ssl.commands.fit import *  # noqa: F401,F403
from ppl_ssl.commands.fit import main

if __name__ == "__main__":
    main()
