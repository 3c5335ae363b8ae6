"""Generative and discriminative SSL side by side: same data, encoder, augmentations, budget and evaluation.

    ppl-ssl compare --models vae beta-vae simvae crvae-consistency simclr vicreg mocov2 --epochs 10 --seeds 3

Trains (or reuses) one run per model and seed under --out (OUT/MODEL-eEPOCHS-sSEED, normal run folders; a
killed comparison resumes), fits post-hoc decoders to the encoders that have no decoder, and writes
    OUT/compare.md            mean ± standard error over seeds: kNN, LP, MP, GMM accuracy, NMI, ARI, style probes, MSE
    OUT/compare.json          the same numbers and every seed's metrics
    OUT/reconstructions.png   test images and each model's reconstructions (own decoder, or post-hoc)
"""
from __future__ import annotations

import argparse

from ppl_ssl.cli import argument, ArgumentParser, user_errors
from ppl_ssl.options import at_least, positive, random_seed


def main(argv=None) -> str:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["vae", "beta-vae", "simvae", "crvae-consistency", "simclr", "vicreg", "mocov2"], help="presets to train and compare")
    parser.add_argument("--epochs", type=argument(int, at_least(1)), default=10, help="epochs of every run (default 10)")
    parser.add_argument("--seeds", type=argument(int, at_least(1)), default=3, help="number of seeds (runs per model)")
    parser.add_argument("--first-seed", type=argument(int, random_seed()), default=1234, help="the seeds are this and the next ones (default 1234)")
    parser.add_argument("--train-subset", type=argument(int, positive(zero="all")), default=0, help="train on the first N training images (default 0: all)")
    parser.add_argument("--dataset", default="fashion-mnist", help="dataset of every run (default fashion-mnist)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="applied to every model")
    parser.add_argument("--no-decode", action="store_true", help="skip post-hoc decoders for encoders without one")
    parser.add_argument("--decode-epochs", type=argument(int, at_least(1)), default=100, help="most epochs of each post-hoc decoder")
    parser.add_argument("--decode-patience", type=argument(int, at_least(1)), default=5, help="post-hoc decoders stop after this many epochs without a better validation MSE")
    parser.add_argument("--decode-lr", type=argument(float, positive()), default=1e-4, help="post-hoc decoders' Adam learning rate (paper: 1e-4)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (training, decoders, figure)")
    parser.add_argument("--precision", choices=["fp32", "bf16", "auto"], help="train.precision of every run (default: the presets')")
    parser.add_argument("--quiet", action="store_true", help="only the table and errors: no line per finished run or decoder, no reading bars")
    parser.add_argument("--out", default="runs/compare", help="folder of the runs and the comparison (default runs/compare)")
    args = parser.parse_args(argv)
    from ppl_ssl.comparison import compare  # after parsing: help and argument errors answer without loading torch

    from ppl_ssl.progress import silenced
    with user_errors(), silenced(args.quiet):
        return compare(args)


if __name__ == "__main__":
    main()
