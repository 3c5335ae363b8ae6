"""Fit a decoder to a run's frozen encoder, so that any representation (SimCLR, VICReg, MoCo v2 ...) can be looked at:

    ppl-ssl decode runs/simclr          # -> RUN/posthoc_decoder.pt, figures/posthoc_reconstructions.png

The run's decoder architecture, mean squared error, Adam (lr 1e-4), early stopping on the validation MSE (the
SimVAE paper's protocol). The test MSE goes into metrics.json as posthoc_reconstruction_mse.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import ppl_ssl
from ppl_ssl.cli import ArgumentParser, argument, user_errors
from ppl_ssl.options import at_least, positive


def main(argv=None) -> dict:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run folder written by ppl-ssl fit")
    parser.add_argument("--max-epochs", type=argument(int, at_least(1)), default=100, help="most epochs of the decoder's fit (default 100)")
    parser.add_argument("--patience", type=argument(int, at_least(1)), default=5, help="stop after this many epochs without a better validation MSE")
    parser.add_argument("--lr", type=argument(float, positive()), default=1e-4, help="Adam's learning rate (default 1e-4, the SimVAE paper's)")
    parser.add_argument("--batch-size", type=argument(int, at_least(1)), default=128, help="codes per step (default 128)")
    parser.add_argument("--refit", action="store_true", help="train again even if RUN/posthoc_decoder.pt exists")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--quiet", action="store_true", help="only the result and errors: no progress bars, stage lines or data-reading bars")
    args = parser.parse_args(argv)
    # imported after parsing: help and argument errors answer without loading torch
    from ppl_ssl.posthoc import decode_run
    from ppl_ssl.progress import silenced
    from ppl_ssl.storage import run_lock
    from ppl_ssl.train.setup import load_data_for
    with user_errors(), silenced(args.quiet), run_lock(Path(args.run), create=False):  # not while a fit still trains the run
        run = ppl_ssl.load_run(args.run, device=args.device)
        data = load_data_for(run.config, run.device)
        result = decode_run(run, data, max_epochs=args.max_epochs, patience=args.patience, lr=args.lr,
                            batch_size=args.batch_size, refit=args.refit, progress=not args.quiet)
    print(json.dumps(result, indent=2, sort_keys=True))
    return result


if __name__ == "__main__":
    main()
