"""The `ppl-ssl` command: one installed entry point for the scripts of experiments/ (which call the same code).

    ppl-ssl fit --model simvae            ppl-ssl evaluate RUN --nll
    ppl-ssl sample RUN --sampler gmm      ppl-ssl decode RUN
    ppl-ssl compare --epochs 10           ppl-ssl reproduce --suite table1 --budget cpu
    ppl-ssl render --model simvae crvae-contrastive   (model graphs)
"""
from __future__ import annotations

import importlib
import sys

COMMANDS = ("fit", "evaluate", "sample", "decode", "compare", "reproduce", "render")


def _summary(name: str) -> str:
    module = importlib.import_module(f"ppl_ssl.commands.{name}")
    return (module.__doc__ or "").strip().splitlines()[0].split("  python ")[0].rstrip(":").rstrip(".")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print("usage: ppl-ssl COMMAND [ARGS]   (ppl-ssl COMMAND --help for a command's flags)\n\ncommands:")
        for name in COMMANDS:
            print(f"  {name:<10} {_summary(name)}")
        return
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command '{command}'; choose one of {', '.join(COMMANDS)} (ppl-ssl --help)", file=sys.stderr)
        raise SystemExit(2)
    module = importlib.import_module(f"ppl_ssl.commands.{command}")
    sys.argv = [f"ppl-ssl {command}", *rest]  # argparse's usage line names the command as typed
    module.main(rest)
