"""Shared command-line plumbing of the commands: one-line errors, typed arguments, plugins and the --help catalogue.
Importing it is light (no torch): `ppl-ssl COMMAND --help` answers before the library is loaded."""
from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from typing import Callable

from ppl_ssl.errors import CheckpointError, ConfigError, DataFileError, DataNotFoundError, FileSystemError, TrainingDiverged, file_system_error, one_line
from ppl_ssl.options import Constraint


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr and exit status 2, like every other refusal of the commands, and
    whose commands all take `--plugin MODULE`: a user's module (a dotted name, or a .py file) imported first, so that
    the components it registers (`@PRIORS.register(...)`, ...) can be named on the command line."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                          help="import a module (dotted name or .py file) whose components register themselves; repeatable")

    def parse_known_args(self, args=None, namespace=None):
        parsed, rest = super().parse_known_args(args, namespace)
        for plugin in parsed.plugin:
            import_plugin(plugin, self)
        return parsed, rest

    def error(self, message: str):
        print(f"error: {message}; see {self.prog} --help", file=sys.stderr)
        raise SystemExit(2)


def import_plugin(name: str, parser: argparse.ArgumentParser) -> None:
    """Import a user's module by dotted name (found from the working folder too) or by .py path."""
    import importlib
    import importlib.util
    import os
    from pathlib import Path

    try:
        if name.endswith(".py"):
            path = Path(name)
            if not path.is_file():
                raise ImportError(f"no file {path}")
            spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = module
            spec.loader.exec_module(module)
        else:
            if os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())
            importlib.import_module(name)
    except Exception as err:  # noqa: BLE001  (whatever the user's module raises is reported in one line)
        parser.error(f"--plugin {name}: {type(err).__name__}: {err}")


def argument(kind: Callable[[str], int | float], constraint: Constraint) -> Callable[[str], int | float]:
    """An argparse `type` reading an int or float and checking it against a constraint from ppl_ssl.options, so that
    a command's numeric arguments state their ranges where they are declared, as the config's options do."""
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not constraint.admits(value):
            raise argparse.ArgumentTypeError(f"{text} must be {constraint.requirement}")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in its own messages
    return parse


def name_list(text: str) -> list[str]:
    """An argparse `type` for comma-separated names ('vae, iwae' -> ['vae', 'iwae']), blanks dropped."""
    return [name.strip() for name in text.split(",") if name.strip()]


@contextmanager
def user_errors():
    """Turn errors a user can fix into one line on stderr and exit status 2 (no traceback)."""
    try:
        yield
    except (ConfigError, DataNotFoundError, DataFileError, CheckpointError) as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        raise SystemExit(2) from None
    except FileSystemError as err:
        print(f"error: {one_line(err.strerror)}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as err:  # the file-system family wherever it was not caught nearer: one line naming the path
        print(f"error: {one_line(file_system_error(err).strerror)}", file=sys.stderr)
        raise SystemExit(2) from None
    except TrainingDiverged as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        raise SystemExit(3) from None
    except KeyboardInterrupt:
        print("interrupted: the last checkpoint is kept; continue with --resume", file=sys.stderr)
        raise SystemExit(130) from None


def catalogue() -> str:
    """What can be named: presets (for --model), datasets and the components that --set can choose (read from the
    registries, so every component is imported; `--help` shows the copy in ppl_ssl/commands/catalogue.txt, which a
    test keeps equal to this, so that help answers without importing torch)."""
    from ppl_ssl.config import preset_names, read_preset
    from ppl_ssl.registry import (DATASETS, GUIDES, LIKELIHOODS, METHODS, MODELS, NETS, OBJECTIVES, OPTIMISERS, PRIORS, SAMPLERS,
                                  SCHEDULES, TRANSFORMS)

    presets = []
    for name in preset_names():
        layers = read_preset(name)
        presets.append(f"  {name:<18} {_description(name) or layers[-1][1]}")
    sections = [("model presets (--model)", "\n".join(presets)), ("datasets (--dataset)", DATASETS.describe()),
                ("training methods (method.kind)", METHODS.describe()),
                ("model programs (model.program)", MODELS.describe()), ("priors (model.prior.kind)", PRIORS.describe()),
                ("likelihoods (model.likelihood.kind)", LIKELIHOODS.describe()), ("guides (guide.kind)", GUIDES.describe()),
                ("nets (nets.kind)", NETS.describe()), ("objectives (objective.kind)", OBJECTIVES.describe()),
                ("optimisers (optim.kind)", OPTIMISERS.describe()), ("learning-rate schedules (schedule.kind)", SCHEDULES.describe()),
                ("ex-post samplers (ppl-ssl sample --sampler)", SAMPLERS.describe()),
                ("selfVAE transforms (model.program.transform)", TRANSFORMS.describe())]
    return "\n\n".join(f"{title}:\n{body}" for title, body in sections)


def _description(preset: str) -> str:
    import tomllib
    from importlib import resources

    text = (resources.files("ppl_ssl.presets") / f"{preset}.toml").read_text()
    return tomllib.loads(text).get("preset", {}).get("description", "")


CATALOGUE_FILE = "catalogue.txt"  # in ppl_ssl/commands/


def stored_catalogue() -> str:
    """The catalogue as `ppl-ssl fit --help` shows it, read from the package without importing the registries
    (components of --plugin modules are not in it; `ppl-ssl fit --plugin M --set ...` still takes them)."""
    from importlib import resources

    return (resources.files("ppl_ssl.commands") / CATALOGUE_FILE).read_text()


NAMES_FILE = "names.json"  # in ppl_ssl/commands/: the names the other commands' help and choices list


def command_names() -> dict[str, list[str]]:
    """The names `sample`, `reproduce` and `render` offer (samplers, selfVAE modes, suites, budgets), read from the
    library; `stored_names` reads the copy a test keeps equal to this."""
    from ppl_ssl.registry import SAMPLERS
    from ppl_ssl.reproduction import BUDGETS, SUITES
    from ppl_ssl.selfvae.modes import MODES

    return {"samplers": list(SAMPLERS.names()), "selfvae_modes": list(MODES), "suites": list(SUITES),
            "budgets": list(BUDGETS)}


def stored_names(kind: str) -> list[str]:
    """One list of `command_names()`, read from the package without importing torch (help answers at once)."""
    import json
    from importlib import resources

    return json.loads((resources.files("ppl_ssl.commands") / NAMES_FILE).read_text())[kind]


def write_catalogue() -> None:
    """Regenerate ppl_ssl/commands/catalogue.txt and names.json from the registries (after adding a component, a
    preset, a suite or a budget):  python -c "from ppl_ssl.cli import write_catalogue; write_catalogue()" """
    import json
    from pathlib import Path

    import ppl_ssl.commands

    folder = Path(ppl_ssl.commands.__file__).parent
    (folder / CATALOGUE_FILE).write_text(catalogue() + "\n")
    (folder / NAMES_FILE).write_text(json.dumps(command_names(), indent=1) + "\n")
