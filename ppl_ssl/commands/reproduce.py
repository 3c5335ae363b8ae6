"""Reproduce the papers' tables and ablations as one resumable command, at a budget you choose:

    ppl-ssl reproduce --suite table1 --budget cpu --seeds 3        # SimVAE Tables 1/5/6 on Fashion-MNIST
    ppl-ssl reproduce --suite ablation-views --budget cpu          # Figure 8: J = 1, 2, 4, 6, 8, 10
    ppl-ssl reproduce --suite ablation-variance                    # Figure 9: likelihood variance
    ppl-ssl reproduce --suite ablation-augment                     # Figure 7: crop scale / jitter
    ppl-ssl reproduce --suite generation                           # Table 7: MSE and FID, Figure 10
    ppl-ssl reproduce --suite crvae                                # contrastive CR-VAE paper's Table III (Fashion-MNIST)
    ppl-ssl reproduce --suite selfvae                              # selfVAE Table 1 shape (bits/dim)
    ppl-ssl reproduce --suite all --budget paper --device cuda     # the paper's budget, on a GPU
    ppl-ssl reproduce --suite table1 --budget smoke                # minutes: checks the whole path

Each suite is a grid of ordinary run folders under OUT/BUDGET/DATASET/; a rerun skips finished runs and resumes
interrupted ones. At the end OUT/report.md and OUT/report.json hold every row's mean ± s.e. over seeds beside the
paper's number, the budget used and the ablations' figures.

Seeds run at different times or on different machines join one report: --recorded takes the runs an earlier
report.json holds (at the same budget, made with the settings the run would have now) instead of training them:

    ppl-ssl reproduce --suite pythae --seeds 1 --out runs/a                                 # one machine: seed 1
    ppl-ssl reproduce --suite pythae --seeds 2 --recorded runs/a/report.json --out runs/b   # seed 2 here, 1 recorded
    ppl-ssl reproduce --suite pythae --seeds 3 --recorded runs/a/report.json runs/b/report.json --out runs/c
"""
from __future__ import annotations

import argparse

from ppl_ssl.cli import argument, ArgumentParser, name_list, stored_names, user_errors
from ppl_ssl.options import at_least, random_seed


def main(argv=None) -> dict:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", required=True, choices=[*stored_names("suites"), "all"], help="what to reproduce (docs/guide/reproduction.md lists each)")
    parser.add_argument("--budget", default="cpu", choices=stored_names("budgets"), help="epochs, data and evaluation settings (default cpu; paper: the paper's protocol)")
    parser.add_argument("--seeds", type=argument(int, at_least(1)), help="number of seeds (default: the paper's for the suite, else the budget's)")
    parser.add_argument("--first-seed", type=argument(int, random_seed()), default=1, help="the seeds are this and the next ones (default 1)")
    parser.add_argument("--dataset", default="fashion-mnist", help="dataset of the suites that take one (default fashion-mnist)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--precision", choices=["fp32", "bf16", "auto"], help="train.precision of every run (default: the presets')")
    parser.add_argument("--models", type=name_list,
                        metavar="NAME[,NAME]", help="only these rows of the suite (e.g. to finish one row); default every row")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="applied to every run")
    parser.add_argument("--recorded", nargs="+", metavar="REPORT_JSON", help="earlier reproductions' report.json files: their runs at this budget, made with the same settings, stand in for runs not on disk under --out (a run in several: the last file's)")
    parser.add_argument("--out", default="runs/reproduce", help="folder of the runs and report.md (default runs/reproduce)")
    parser.add_argument("--progress", action="store_true", help="show each run's progress bars")
    parser.add_argument("--quiet", action="store_true", help="only the report's path and errors: no line per finished run, no reading bars")
    args = parser.parse_args(argv)
    from ppl_ssl.progress import silenced
    from ppl_ssl.reproduction import reproduce  # after parsing: help and argument errors answer without loading torch
    with user_errors(), silenced(args.quiet):
        report = reproduce(args.suite, args.budget, args.dataset, args.seeds, args.first_seed, args.out, args.device,
                           args.precision, args.set, args.progress, args.models, args.recorded)
    print(f"report: {args.out}/report.md ({len(report['sections'])} suite section(s))")
    return report


if __name__ == "__main__":
    main()
