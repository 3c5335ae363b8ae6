"""The `ppl-ssl` command: one installed entry point (the scripts of experiments/ call the same code).

    ppl-ssl fit --model simvae            ppl-ssl evaluate RUN --nll
    ppl-ssl sample RUN --sampler gmm      ppl-ssl decode RUN
    ppl-ssl compare --epochs 10           ppl-ssl reproduce --suite table1 --budget cpu
    ppl-ssl render --model simvae crvae-contrastive   (model graphs)
"""
from __future__ import annotations

import importlib
import os
import sys

# name -> what it does; kept here so that `ppl-ssl --help` answers without importing the library
COMMANDS = {
    "fit": "fit a model preset, evaluate it and draw its figures",
    "evaluate": "recompute the metrics (and figures) of a finished run",
    "sample": "decode samples of an ex-post sampler fitted on a run's codes (selfVAE: its modes)",
    "decode": "fit a decoder to a frozen encoder (SimCLR, VICReg, MoCo) and score its reconstructions",
    "compare": "generative against discriminative SSL on the same data, encoders and augmentations",
    "reproduce": "reproduce the papers' tables and figures (suites at a budget)",
    "render": "draw model graphs (graphviz)",
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ppl-ssl")
    except PackageNotFoundError:  # run from a checkout that is not installed
        from ppl_ssl import __version__
        return __version__


def _run(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print("usage: ppl-ssl COMMAND [ARGS]   (ppl-ssl COMMAND --help for a command's flags)\n\ncommands:")
        for name, summary in COMMANDS.items():
            print(f"  {name:<10} {summary}")
        print("\n  --version  the installed version")
        return
    if argv[0] in ("--version", "-V"):
        print(f"ppl-ssl {_version()}")
        return
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command '{command}'; choose one of {', '.join(COMMANDS)} (ppl-ssl --help)", file=sys.stderr)
        raise SystemExit(2)
    module = importlib.import_module(f"ppl_ssl.commands.{command}")
    sys.argv = [f"ppl-ssl {command}", *rest]  # argparse's usage line names the command as typed
    module.main(rest)


def main(argv: list[str] | None = None) -> None:
    try:
        _run(list(sys.argv[1:] if argv is None else argv))
        sys.stdout.flush()
    except BrokenPipeError:  # `ppl-ssl --help | head -1`: the reader has gone; end quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes at exit
        raise SystemExit(141) from None  # 128 + SIGPIPE
