"""Optimisers (`[optim]`) and learning-rate schedules (`[schedule]`) as components.

The base learning rate is `train.lr` (`--lr`); the optimiser's section holds what is particular to it (Adam's eps
and betas, SGD's momentum, weight decay), the schedule's how the rate moves with training: the rate of a step
after t epochs (fractional) is `train.lr × schedule.factor(t)`. A plateau schedule also hears, at each epoch's end,
the loss on the validation split. Both are in the checkpoint (the optimiser's state, the schedule's own), so a
resume continues exactly; the rate of every step is logged as `lr`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ppl_ssl.contracts import BuildContext, Optimiser, Schedule
from ppl_ssl.errors import ConfigError
from ppl_ssl.options import at_least, between, non_negative, one_of, option, positive, Sequence
from ppl_ssl.registry import OPTIMISERS, SCHEDULES

DEFAULT_OPTIMISER, DEFAULT_SCHEDULE = "adam", "constant"



def _parameters(context: BuildContext) -> list[torch.nn.Parameter]:
    # frozen parameters (momentum copies) too: they keep no state, and the list is what checkpoints index by
    return list(context.system.parameters())


def _device_kernels(parameters: list[torch.nn.Parameter], context: BuildContext) -> dict:
    """Capturable (the step count on the device) when the training step is captured as a CUDA graph."""
    return {"capturable": True} if context.config.train.cuda_graph and parameters[0].is_cuda else {}


def _fused_if_possible(make, parameters, **settings) -> torch.optim.Optimizer:
    """The fused (one kernel over all parameters) variant where torch has it for the device, else the default: on
    the 2-core CPU the for-loop Adam takes about 5 ms of a VAE step's 25 ms over the paper's MLPs, the fused 1.4 ms."""
    try:
        return make(parameters, fused=True, **settings)
    except (RuntimeError, TypeError):  # an older torch, or a device without the fused kernel
        return make(parameters, **settings)


@dataclass
class AdamOptions:
    eps: float = option(1e-4, positive())  # 1e-4: the SimVAE authors' setting
    betas: list[float] = option([0.9, 0.999], Sequence(between(0, 1, high_open=True), length=2))
    weight_decay: float = option(0.0, non_negative('an L2 term added to the gradient'))


@dataclass
class AdamWOptions(AdamOptions):
    eps: float = option(1e-8, positive())
    weight_decay: float = option(0.01, non_negative('decoupled from the gradient'))


@dataclass
class AdamaxOptions(AdamOptions):
    eps: float = option(1e-8, positive())


class AdamFamily(Optimiser):
    """Adam and its variants: one rate, eps, betas and weight decay; fused and capturable where torch has them."""

    torch_optimiser: type = torch.optim.Adam

    @classmethod
    def build(cls, options: AdamOptions, context: BuildContext) -> torch.optim.Optimizer:
        parameters = _parameters(context)
        return _fused_if_possible(cls.torch_optimiser, parameters, lr=context.config.train.lr, eps=options.eps,
                                  betas=tuple(options.betas), weight_decay=options.weight_decay,
                                  **_device_kernels(parameters, context))


@OPTIMISERS.register("adam", AdamOptions, summary="Adam (fused where torch has it), lr = train.lr")
class Adam(AdamFamily):
    torch_optimiser = torch.optim.Adam


@OPTIMISERS.register("adamw", AdamWOptions, summary="AdamW: Adam with decoupled weight decay (fused where torch has it)")
class AdamW(AdamFamily):
    torch_optimiser = torch.optim.AdamW


@OPTIMISERS.register("adamax", AdamaxOptions, summary="Adamax (Adam with the infinity norm; selfVAE's optimiser)")
class Adamax(AdamFamily):
    torch_optimiser = torch.optim.Adamax


@dataclass
class SGDOptions:
    momentum: float = option(0.9, between(0, 1, high_open=True))
    nesterov: bool = False
    weight_decay: float = option(0.0, non_negative())


@OPTIMISERS.register("sgd", SGDOptions, summary="SGD with momentum (CR-VAE's optimiser), fused where torch has it")
class SGD(Optimiser):
    @classmethod
    def check_config(cls, config) -> None:
        options = config.optim.options
        if options.nesterov and options.momentum == 0:
            raise ConfigError("optim.nesterov = true needs optim.momentum > 0; set --set optim.momentum=0.9")

    @classmethod
    def build(cls, options: SGDOptions, context: BuildContext) -> torch.optim.Optimizer:
        return _fused_if_possible(torch.optim.SGD, _parameters(context), lr=context.config.train.lr,
                                  momentum=options.momentum, nesterov=options.nesterov, weight_decay=options.weight_decay)


# ------------------------------------------------------------------------------------------------- schedules


@SCHEDULES.register("constant", summary="train.lr throughout")
class Constant(Schedule):
    def __init__(self, options: None = None, context: BuildContext | None = None):
        pass

    def factor(self, epochs_done: float) -> float:
        return 1.0


@dataclass
class CosineOptions:
    min_lr_ratio: float = option(0.0, between(0, 1, note='the last rate as a share of train.lr'))


@SCHEDULES.register("cosine", CosineOptions, summary="cosine decay from train.lr to min_lr_ratio·train.lr over train.epochs")
class Cosine(Schedule):
    def __init__(self, options: CosineOptions, context: BuildContext):
        self.minimum, self.epochs = options.min_lr_ratio, context.config.train.epochs

    def factor(self, epochs_done: float) -> float:
        progress = min(1.0, epochs_done / self.epochs)
        return self.minimum + (1 - self.minimum) * 0.5 * (1 + math.cos(math.pi * progress))


@dataclass
class WarmupCosineOptions:
    warmup_epochs: float = option(1.0, non_negative("epochs"))
    min_lr_ratio: float = option(0.0, between(0, 1))


@SCHEDULES.register("warmup_cosine", WarmupCosineOptions,
                    summary="linear warm-up from 0 over warmup_epochs, then cosine decay to min_lr_ratio·train.lr")
class WarmupCosine(Schedule):
    def __init__(self, options: WarmupCosineOptions, context: BuildContext):
        self.warmup, self.minimum, self.epochs = options.warmup_epochs, options.min_lr_ratio, context.config.train.epochs

    @classmethod
    def check_config(cls, config) -> None:
        if config.schedule.options.warmup_epochs >= config.train.epochs:
            raise ConfigError(f"schedule.warmup_epochs = {config.schedule.options.warmup_epochs} leaves no epoch of the "
                              f"{config.train.epochs} to decay over; use fewer warm-up epochs or more --epochs")

    def factor(self, epochs_done: float) -> float:
        if epochs_done < self.warmup:
            return epochs_done / self.warmup
        progress = min(1.0, (epochs_done - self.warmup) / (self.epochs - self.warmup))
        return self.minimum + (1 - self.minimum) * 0.5 * (1 + math.cos(math.pi * progress))


@dataclass
class StepOptions:
    step_epochs: float = option(30.0, positive('epochs between decays'))
    gamma: float = option(0.1, between(0, 1, low_open=True, note='the factor at each decay'))


@SCHEDULES.register("step", StepOptions, summary="train.lr × gamma^⌊epochs / step_epochs⌋")
class StepDecay(Schedule):
    def __init__(self, options: StepOptions, context: BuildContext | None = None):
        self.every, self.gamma = options.step_epochs, options.gamma

    def factor(self, epochs_done: float) -> float:
        return self.gamma ** math.floor(epochs_done / self.every + 1e-9)


@dataclass
class PlateauOptions:
    factor: float = option(0.5, between(0, 1, low_open=True, high_open=True, note='the rate is multiplied by it on a plateau'))
    patience: int = option(5, at_least(0, "epochs without improvement"))
    threshold: float = option(1e-4, non_negative('relative improvement that counts'))
    min_lr_ratio: float = option(0.0, between(0, 1))
    # the loss that must improve: the validation split's (default), or the epoch's mean training loss (the CR-VAE
    # paper's: "when L_CR-VAE is not being reduced")
    monitor: str = option("validation", one_of(("validation", "training")))


@SCHEDULES.register("plateau", PlateauOptions,
                    summary="train.lr × factor after `patience` epochs whose validation (or training) loss did not improve")
class Plateau(Schedule):
    best: float
    bad_epochs: int
    current: float

    def __init__(self, options: PlateauOptions, context: BuildContext | None = None):
        self.options = options
        self.needs_validation_loss = options.monitor == "validation"
        self.best, self.bad_epochs, self.current = math.inf, 0, 1.0

    def factor(self, epochs_done: float) -> float:
        return self.current

    def epoch_end(self, summary: dict) -> None:
        loss = summary.get("validation_loss" if self.needs_validation_loss else "loss")
        if loss is None:
            return
        if loss < self.best - self.options.threshold * abs(self.best) or not math.isfinite(self.best):
            self.best, self.bad_epochs = loss, 0
            return
        self.bad_epochs += 1
        if self.bad_epochs > self.options.patience:
            self.current = max(self.options.min_lr_ratio, self.current * self.options.factor)
            self.bad_epochs = 0

    def state_dict(self) -> dict:
        return {"best": self.best, "bad_epochs": self.bad_epochs, "current": self.current}

    def load_state_dict(self, state: dict) -> None:
        if state:  # a checkpoint of a run that had another schedule holds none
            self.best, self.bad_epochs, self.current = state["best"], state["bad_epochs"], state["current"]


def build_optimiser(config, system: torch.nn.Module) -> torch.optim.Optimizer:
    context = BuildContext(config, system=system)
    return OPTIMISERS.build(config.optim.kind, config.optim.options, context)


def build_schedule(config) -> Schedule:
    return SCHEDULES.build(config.schedule.kind, config.schedule.options, BuildContext(config))


def set_learning_rate(optimiser: torch.optim.Optimizer, lr: float) -> None:
    for group in optimiser.param_groups:
        group["lr"] = lr
