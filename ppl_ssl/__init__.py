"""ppl-ssl: self-supervised representation learning as probabilistic inference, in Pyro.

The generative stories live in `ppl_ssl.models` (the repository's models/ folder), the inference programs in
`ppl_ssl.guides` (guides/); what every component provides is stated in `ppl_ssl.contracts`, and
`ppl_ssl.components` registers them all. The rest of the package is the machinery around them: data,
augmentation, nets, distributions, priors, likelihoods, objectives, the training loop (`ppl_ssl.train`),
evaluation, config and runs; `ppl_ssl.reproduction` reproduces the papers' tables. The discriminative baselines
(SimCLR, VICReg, MoCo v2) are plain torch modules in `ppl_ssl.baselines`.

Importing the package is cheap: each name below is loaded on first use.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it
_NAMES = {
    "Config": "ppl_ssl.config", "build_config": "ppl_ssl.config", "load_config": "ppl_ssl.config",
    "ConfigError": "ppl_ssl.errors", "DataFileError": "ppl_ssl.errors", "DataNotFoundError": "ppl_ssl.errors",
    "CheckpointError": "ppl_ssl.errors",
    "evaluate_run": "ppl_ssl.pipeline", "fit_and_evaluate": "ppl_ssl.pipeline", "sample_run": "ppl_ssl.pipeline",
    "Run": "ppl_ssl.runs", "load_run": "ppl_ssl.runs",
    "GenerativeSystem": "ppl_ssl.system", "build_system": "ppl_ssl.system",
    "reproduce": "ppl_ssl.reproduction",
}

__all__ = sorted(_NAMES) + ["reproduction"]


def __getattr__(name: str):
    if name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
        globals()[name] = value
        return value
    try:
        return importlib.import_module(f"ppl_ssl.{name}")  # a submodule: ppl_ssl.evaluation, ppl_ssl.data, ...
    except ModuleNotFoundError as err:
        if err.name != f"ppl_ssl.{name}":
            raise
        raise AttributeError(f"module 'ppl_ssl' has no attribute '{name}'") from None
