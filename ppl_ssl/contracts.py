"""What every kind of component provides: the one place a contributor reads before adding a method, a program,
a guide, a prior, a likelihood, an objective, nets, an optimiser, a schedule, a sampler, a transform or a
dataset.

Every registered component is a class (a dataset: an instance) that subclasses its kind's contract below. It is
built in one way, ``Kind.build(options, context)``: `options` is its typed options dataclass from the config
(None where it takes none), `context` the `BuildContext` of what has been built before it. What a component can
do is *declared* here as class attributes with a default (``has_density``, ``weighs_kl``, ...), never probed at
run time; what it requires of the rest of the config it checks in ``check_config(config)``, which the system
calls for every chosen component before anything is built. `ppl_ssl.registry` refuses an entry that does not
subclass its contract or leaves one of its abstract methods undefined.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import torch
from torch import nn


@dataclass(frozen=True)
class BuildContext:
    """What a component may be built from. Each stage adds what it built (`with_parts`); a builder reads the fields
    it needs: the nets read `image_shape` and `output_channels`, a VampPrior the `encoder`, a guide the `model`."""

    config: Any                                   # the whole resolved ppl_ssl.config.Config
    image_shape: tuple[int, int, int] = (1, 1, 1)
    latent_dim: int = 1
    output_channels: int | None = None            # maps the decoder emits (the likelihood's raw_channels)
    encoder: nn.Module | None = None
    decoder: nn.Module | None = None
    prior: nn.Module | None = None
    likelihood: nn.Module | None = None
    model: nn.Module | None = None
    system: nn.Module | None = None               # ex-post samplers are fitted to a trained system

    def with_parts(self, **parts: Any) -> "BuildContext":
        return replace(self, **parts)


class Component(ABC):
    """The shape every registered component shares."""

    @classmethod
    def build(cls, options: Any, context: BuildContext) -> Any:
        """The component for these options in this context (default: the class's constructor)."""
        return cls(options, context)

    @classmethod
    def check_config(cls, config: Any) -> None:
        """Refuse, with one line naming the key and the fix (`ConfigError`), a config this component cannot serve."""


class Method(Component, nn.Module):
    """A trainable system (`method.kind`): what the training loop and the evaluation use.

    training_loss(views, kl_weight) -> (loss, terms): the loss to minimise on views (N, J, C, H, W) and its terms,
    summed over the batch's views, 'loss' among them. The KL weight is the step's (the training loop passes
    `kl_weight_at(epochs done)`); None keeps the weight last given."""

    has_density: ClassVar[bool] = False     # q(z | x) can be evaluated: importance weights, posterior diagnostics
    can_decode: ClassVar[bool] = False      # p(x | z) exists: reconstructions, samples, NLL
    uses_objective: ClassVar[bool] = False  # trained through the [objective] section (else its own loss)
    learns: ClassVar[bool] = True           # training changes it (False: the untrained encoder of the Random row)
    pauses_parts: ClassVar[bool] = False    # its loss may ask parts to sit out a step (`paused_parts`)
    precision: str = "fp32"                 # what train.precision became for this system (set when it is prepared)

    @abstractmethod
    def training_loss(self, views, kl_weight: float | None = None) -> tuple[Any, dict]:
        """(loss, terms) on a batch of views."""

    def forward(self, views, kl_weight: float | None = None):
        """The training loss: what DistributedDataParallel calls (and the trainer, wrapped or not)."""
        return self.training_loss(views, kl_weight)

    @abstractmethod
    def encode(self, images):
        """The representation (N, L) of un-augmented images (N, C, H, W) in [0, 1]."""

    def after_step(self) -> None:
        """After each optimiser step (momentum encoders, queues); nothing by default."""

    def paused_parts(self) -> list[tuple[list[nn.Parameter], torch.Tensor]]:
        """Where `pauses_parts`: the parts the last training loss gated, each (its parameters, 1.0 to train or 0.0
        to pause, a device tensor); the training step leaves a paused part as it was, weights and optimiser state."""
        return []

    def validation_loss(self, views) -> Any:
        """The number validation watches on a batch of views (`train.keep_best`, early stopping, a plateau
        schedule), summed over the batch: the training loss by default."""
        return self.training_loss(views)[0]

    def kl_weight_at(self, epochs_done: float) -> float:
        """The KL weight for a step after `epochs_done` (fractional) epochs; 1 for a method without a KL term."""
        return 1.0

    @property
    def code_parts(self) -> tuple[str, ...] | None:
        """Names of the equal-width parts of the representation (selfVAE: u, z_1, ...), or None for one code."""
        return None


class ModelProgram(Component, nn.Module):
    """A generative story p(x, z) as a Pyro program (`model.program`): forward(views) samples and scores."""

    adds_factors: ClassVar[bool] = False  # it adds pyro.factor terms that only a plain ELBO weighs as intended
    # x is an observed site scored by a likelihood p(x | z), so log p(x) can be estimated (importance weighting,
    # AIS); False for a program that scores reconstructions another way (MSSSIM-VAE's MS-SSIM)
    observes_images: ClassVar[bool] = True

    @abstractmethod
    def forward(self, views): ...

    @abstractmethod
    def decode_codes(self, z):
        """Mean image E[x | z] for codes (..., L)."""

    @abstractmethod
    def sample_codes(self, n: int, views: int = 1):
        """Codes of n images with `views` views each from the prior: (n, views, L)."""

    # its loss may ask parts to sit out a step (VAEGAN's equilibrium): `paused_parts`, as `Method.paused_parts`
    pauses_parts: ClassVar[bool] = False

    def after_step(self) -> None:
        """After each optimiser step (CR-VAE's momentum key encoder); nothing by default."""

    def paused_parts(self) -> list[tuple[list[nn.Parameter], torch.Tensor]]:
        return []

    def validation_loss(self, terms: dict) -> torch.Tensor:
        """The number validation watches, from the terms of a loss on a batch (sums over it): the loss by default; a
        program whose loss value adds terms that only route gradients (VAEGAN) says what to watch instead."""
        return terms["loss"]


class Guide(Component, nn.Module):
    """An inference program q(z | x) (`guide.kind`): forward(views) samples the model's latent sites."""

    has_density: ClassVar[bool] = True  # its q(z | x) is a density (posterior() exists); False for point masses

    @abstractmethod
    def forward(self, views): ...

    @abstractmethod
    def posterior_mean(self, images):
        """The representation: E_q[z | x] of un-augmented images (N, C, H, W)."""

    def posterior(self, views):
        """q(z | x) as a distribution (batch N, event (J, L)); only where `has_density`."""
        raise NotImplementedError(f"{type(self).__name__} has no density q(z | x)")

    @property
    def code_parts(self) -> tuple[str, ...] | None:
        return None

    def after_step(self) -> None:
        """After each optimiser step; nothing by default."""


class Prior(Component, nn.Module):
    """p(z^1..z^J) of one image's J views (`model.prior.kind`): forward(J) -> a distribution of event shape (J, L)."""

    shares_the_encoder: ClassVar[bool] = False  # it holds the guide's encoder (a VampPrior): model and guide share it

    @abstractmethod
    def forward(self, views: int): ...


class Likelihood(Component, nn.Module):
    """p(x | z) from a decoder's raw output (`model.likelihood.kind`): forward(raw) -> a distribution over images."""

    binary_data: ClassVar[bool] = False  # scores only pixels that are 0 or 1
    discrete: ClassVar[bool] = False     # a probability of the pixel values themselves (bits/dim adds no D·ln 255)

    @abstractmethod
    def forward(self, raw): ...

    @abstractmethod
    def mean(self, raw):
        """The mean image for raw decoder output."""

    def raw_channels(self, image_channels: int) -> int:
        """How many maps the decoder must emit for images with `image_channels` channels."""
        return image_channels


class Objective(Component):
    """What SVI maximises (`[objective]`): a Pyro ELBO whose `differentiable_loss(model, guide, views)` is the loss.

    After each loss, `last_terms` holds its terms (summed over the batch) with 'loss' among them."""

    weighs_kl: ClassVar[bool] = False            # takes a KL weight (β, warm-up); else the weight must stay 1
    needs_guide_density: ClassVar[bool] = False  # divides by q(z | x): a point-mass guide cannot serve it
    accepts_factors: ClassVar[bool] = False      # weighs a program's pyro.factor terms as the program means them

    kl_weight: float = 1.0  # the KL weight of the next loss (set by the system from the step's schedule)
    last_terms: dict

    @abstractmethod
    def differentiable_loss(self, model, guide, *args, **kwargs): ...

    def kl_weight_at(self, epochs_done: float) -> float:
        """The KL weight after `epochs_done` (fractional) epochs of training; 1 for an objective without one."""
        return 1.0


class Optimiser(Component):
    """An optimiser (`[optim]`): build(options, context) -> a torch.optim.Optimizer over `context.system`'s
    parameters at the base rate `train.lr`."""

    @classmethod
    @abstractmethod
    def build(cls, options: Any, context: BuildContext) -> Any: ...


class Schedule(Component):
    """A learning-rate schedule (`[schedule]`): the step's rate is train.lr × factor(epochs done, fractional)."""

    needs_validation_loss: bool = False  # the epoch's summary must hold the validation split's loss (a plateau on it)

    @abstractmethod
    def factor(self, epochs_done: float) -> float: ...

    def epoch_end(self, summary: dict) -> None:
        """After each epoch, with its summary (the mean training "loss", and "validation_loss" where the run
        computes it, always where `needs_validation_loss`); nothing by default."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore `state_dict()`'s content (a resume)."""


class Nets(Component):
    """An encoder/decoder pair (`nets.kind`). build(options, context) -> (encoder, decoder):
    encoder(x) -> (loc, scale), each (N, L); decoder(z) -> raw image parameters (..., P, H, W)."""

    @classmethod
    @abstractmethod
    def build(cls, options: Any, context: BuildContext) -> tuple[nn.Module, nn.Module]: ...


class Sampler(Component, nn.Module):
    """An ex-post density over codes, fitted after training: fit(codes) once, then sample(n) and log_prob(codes)."""

    @abstractmethod
    def fit(self, codes) -> "Sampler": ...

    @abstractmethod
    def sample(self, n: int): ...

    @abstractmethod
    def log_prob(self, codes): ...


class Transform(Component):
    """A deterministic, discrete transform y = d(x) of 8-bit images (selfVAE's levels): __call__(x) -> y."""

    @abstractmethod
    def __call__(self, x): ...


class Dataset(ABC):
    """A dataset (`data.dataset`), registered as an instance: its image shape and the config values it implies."""

    name: str

    @abstractmethod
    def config_defaults(self) -> dict:
        """Config values that depend on the dataset (augmentation, nets, latent size, likelihood)."""

    @abstractmethod
    def build(self, options: Any, context: BuildContext) -> Any:
        """The dataset's splits (`ppl_ssl.data.DataSplits`) for the data options on `context.config.train.device`."""
