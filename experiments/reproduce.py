"""Reproduce the papers' tables and ablations as one resumable command, at a budget you choose:

    python experiments/reproduce.py --suite table1 --budget cpu --seeds 3        # SimVAE Tables 1/5/6 on Fashion-MNIST
    python experiments/reproduce.py --suite ablation-views --budget cpu          # Figure 8: J = 1, 2, 4, 6, 8, 10
    python experiments/reproduce.py --suite ablation-variance                    # Figure 9: likelihood variance
    python experiments/reproduce.py --suite ablation-augment                     # Figure 7: crop scale / jitter
    python experiments/reproduce.py --suite generation                           # Table 7: MSE and FID, Figure 10
    python experiments/reproduce.py --suite crvae                                # CR-VAE Table III (Fashion-MNIST rows)
    python experiments/reproduce.py --suite selfvae                              # selfVAE Table 1 shape (bits/dim)
    python experiments/reproduce.py --suite all --budget paper --device cuda     # the paper's budget, on a GPU
    python experiments/reproduce.py --suite table1 --budget smoke                # minutes: checks the whole path

Each suite is a grid of ordinary run folders under OUT/BUDGET/DATASET/; a rerun skips finished runs and resumes
interrupted ones. At the end OUT/report.md and OUT/report.json hold every row's mean ± s.e. over seeds beside the
paper's number, the budget used and the ablations' figures.
"""
# The command lives in the package (ppl_ssl/commands/reproduce.py) so that the installed `ppl-ssl reproduce` runs the
# same code; this script keeps `python experiments/reproduce.py ...` working from a checkout.
from ppl_ssl.commands.reproduce import *  # noqa: F401,F403
from ppl_ssl.commands.reproduce import main

if __name__ == "__main__":
    main()
