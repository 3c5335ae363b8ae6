"""What a run trains with: its data on the device, its system in the config's precision, its optimiser."""
from __future__ import annotations

import torch

from ppl_ssl.augment import Augmenter
from ppl_ssl.contracts import BuildContext
from ppl_ssl.data import DataSplits
from ppl_ssl.optim import build_optimiser
from ppl_ssl.precision import apply_precision, outermost_nets, precision_name, resolve_precision
from ppl_ssl.registry import DATASETS
from ppl_ssl.system import build_system
from ppl_ssl.train.step import TrainStep


def load_data_for(config, device: torch.device) -> DataSplits:
    """The config's dataset (its [data] options), on `device`."""
    return DATASETS.build(config.data.dataset, config.data, BuildContext(config)).to(device)


def make_optimiser(system: torch.nn.Module, config) -> torch.optim.Optimizer:
    """The config's optimiser (`[optim]`, at the base rate train.lr) over the system's parameters."""
    return build_optimiser(config, system)


def prepare_system(system: torch.nn.Module, config, device: torch.device) -> torch.nn.Module:
    """The system as it trains and evaluates on `device`: its nets in the config's precision, compiled if asked."""
    dtype = resolve_precision(config.train.precision, device)
    apply_precision(system, dtype)
    system.precision = precision_name(dtype)  # what `auto` became here (recorded in metrics.json)
    if config.train.compile:
        for net in outermost_nets(system):
            net.compile(dynamic=False)  # in place: parameter names (and so checkpoints) stay as they are
    return system


def build_train_step(config, image_shape: tuple[int, int, int], device: torch.device, seed: int = 0):
    """A fresh system of `config` on `device` in training mode with its optimiser, augmentation and `TrainStep`:
    the step `fit` takes, for benchmarks and tests that time or inspect one step alone."""
    system = prepare_system(build_system(config, image_shape).to(device), config, device).train()
    augmenter = Augmenter(config.augment, seed=seed, device=device)
    return TrainStep(system, make_optimiser(system, config), augmenter, config.model.views, config.train.max_grad_norm,
                     loss_reduction=config.train.loss_reduction)
