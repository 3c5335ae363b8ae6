"""Draw a preset's model program and guide as graphs (pyro.render_model; needs graphviz's `dot`):

    ppl-ssl render --model simvae --views 3 --out docs/figures     # PRESET_model_graph.png, PRESET_model_and_guide.png

The SSL model is drawn with its content explicit (the paper's Figure 1); a trained run's figures/ holds the same
pictures (model_graph.png, model_and_guide.png).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import ppl_ssl
from ppl_ssl.cli import argument, ArgumentParser, user_errors
from ppl_ssl.errors import ConfigError
from ppl_ssl.options import at_least


def main(argv=None) -> list[Path]:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", default=["simvae"], help="preset names (or .toml files)")
    parser.add_argument("--views", type=argument(int, at_least(1)), default=3, help="J views per image in the drawing (default 3)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override any config field of the drawn models")
    parser.add_argument("--out", default="docs/figures", help="folder of the drawings (default docs/figures)")
    args = parser.parse_args(argv)
    # imported after parsing: help and argument errors answer without loading torch
    from ppl_ssl.data.datasets import image_shape
    from ppl_ssl.graphs import graphviz_available, write_graphs
    from ppl_ssl.registry import METHODS
    from ppl_ssl.system import build_system
    written = []
    with user_errors():
        if not graphviz_available():
            raise ConfigError("drawing graphs needs graphviz's `dot`: apt-get install graphviz (or your system's package)")
        for preset in args.model:
            config = ppl_ssl.build_config(preset, {"model.views": args.views}, args.set)
            if not METHODS[config.method.kind].component.can_decode:
                raise ConfigError(f"'{preset}' is a discriminative method ({config.method.kind}): it has no Pyro model to draw")
            d = config.data
            shape = image_shape(d.dataset, d.data_dir, d.image_size)
            system = build_system(config, shape)
            folder = Path(args.out)
            for path in write_graphs(system, args.views, shape, folder):
                target = folder / f"{Path(preset).stem}_{path.name}"
                path.replace(target)
                written.append(target)
                print(target)
    return written


if __name__ == "__main__":
    main()
