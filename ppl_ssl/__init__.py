"""ppl-ssl: self-supervised representation learning as probabilistic inference, in Pyro.

The generative stories live in `ppl_ssl.models` (the repository's models/ folder), the inference programs in
`ppl_ssl.guides` (guides/); the rest of the package is the machinery around them: data, augmentation, nets,
distributions, priors, likelihoods, inference, evaluation, config and runs; `ppl_ssl.reproduction` reproduces the
papers' tables (experiments/reproduce.py). The discriminative baselines
(SimCLR, VICReg, MoCo v2) are plain torch modules in `ppl_ssl.baselines`, built from `ppl_ssl.contrastive`.
"""
from ppl_ssl import augment, data, distributions, evaluation, flows, likelihoods, nets, priors, samplers  # noqa: F401  (registers components)
from ppl_ssl import inference  # noqa: F401  (registers objectives)
from ppl_ssl import guides, models  # noqa: F401  (registers programs)
from ppl_ssl import baselines, contrastive, system, transforms  # noqa: F401  (registers methods and transforms)
from ppl_ssl.config import Config, build_config, load_config
from ppl_ssl.errors import ConfigError, DataFileError, DataNotFoundError
from ppl_ssl.pipeline import evaluate_run, fit_and_evaluate
from ppl_ssl.runs import Run, load_run
from ppl_ssl.system import GenerativeSystem, build_system
from ppl_ssl import reproduction  # noqa: E402  (suites, budgets and the papers' numbers: experiments/reproduce.py)
from ppl_ssl.reproduction import reproduce

__version__ = "0.1.0"

__all__ = [
    "Config", "ConfigError", "DataFileError", "DataNotFoundError", "GenerativeSystem", "Run", "build_config", "build_system",
    "evaluate_run", "fit_and_evaluate", "load_config", "load_run", "reproduce", "reproduction",
]
