"""Shared command-line plumbing for experiments/*.py: one-line errors and the --help catalogue."""
from __future__ import annotations

import sys
from contextlib import contextmanager

from ppl_ssl.config import preset_names, read_preset
from ppl_ssl.errors import ConfigError, DataFileError, DataNotFoundError, TrainingDiverged
from ppl_ssl.registry import (DATASETS, GUIDES, LIKELIHOODS, METHODS, MODELS, NETS, OBJECTIVES, OPTIMISERS, PRIORS, SAMPLERS,
                              SCHEDULES, TRANSFORMS)


@contextmanager
def user_errors():
    """Turn errors a user can fix into one line on stderr and exit status 2 (no traceback)."""
    try:
        yield
    except (ConfigError, DataNotFoundError, DataFileError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(3) from None
    except KeyboardInterrupt:
        print("interrupted: the last checkpoint is kept; continue with --resume", file=sys.stderr)
        raise SystemExit(130) from None


def catalogue() -> str:
    """What can be named: presets (for --model), datasets and the components that --set can choose."""
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
                ("ex-post samplers (experiments/sample.py --sampler)", SAMPLERS.describe()),
                ("selfVAE transforms (model.program.transform)", TRANSFORMS.describe())]
    return "\n\n".join(f"{title}:\n{body}" for title, body in sections)


def _description(preset: str) -> str:
    import tomllib
    from importlib import resources

    text = (resources.files("ppl_ssl.presets") / f"{preset}.toml").read_text()
    return tomllib.loads(text).get("preset", {}).get("description", "")
