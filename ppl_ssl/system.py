"""Trainable systems, built from a Config by the method registry (`method.kind`).

Every system offers what the trainer and the evaluation use:
    training_loss(views) -> (loss, terms)   terms summed over the batch's views, 'loss' among them
    set_kl_weight(w), after_step()           hooks the trainer calls before / after each optimiser step
    encode(images) -> (N, L)                 the representation that is evaluated
    has_density, can_decode                  whether q(z | x) and p(x | z) exist (NLL, diagnostics, figures)
The "svi" method is the `GenerativeSystem` below (model program + guide program + objective); the
discriminative baselines live in `ppl_ssl.baselines`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ppl_ssl.config import Config
from ppl_ssl.errors import ConfigError
from ppl_ssl.likelihoods import build_likelihood
from ppl_ssl.nets import build_nets
from ppl_ssl.priors import PriorContext, build_prior
from ppl_ssl.registry import GUIDES, LIKELIHOODS, METHODS, MODELS, OBJECTIVES


class GenerativeSystem(nn.Module):
    """Owns the ELBO module (which owns model and guide) and offers what users do with a fitted model."""

    can_decode = True

    def __init__(self, model: nn.Module, guide: nn.Module, elbo):
        super().__init__()
        self.objective = elbo(model, guide)  # an nn.Module: its parameters are the model's and the guide's
        self.elbo = elbo

    @property
    def model(self) -> nn.Module:
        return self.objective.model

    @property
    def guide(self) -> nn.Module:
        return self.objective.guide

    def set_kl_weight(self, weight: float) -> None:
        """The weight of the KL term for the next steps (β, or a warm-up value); objectives without one ignore it."""
        if hasattr(self.elbo, "kl_weight"):
            self.elbo.kl_weight = weight

    def after_step(self) -> None:
        """After each optimiser step: programs holding momentum networks or queues (CR-VAE) update them."""
        for program in (self.model, self.guide):
            hook = getattr(program, "after_step", None)
            if hook is not None:
                hook()

    @property
    def has_density(self) -> bool:
        """Whether the guide's q(z | x) is a density (needed by importance weights and posterior diagnostics)."""
        return self.guide.has_density

    def training_loss(self, views: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss to minimise on a batch of views (N, J, C, H, W) and its terms, summed over the batch."""
        loss = self.objective(views)
        return loss, self.elbo.last_terms

    def forward(self, views: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The training loss: what DistributedDataParallel calls (and the trainer, wrapped or not)."""
        return self.training_loss(views)

    @property
    def code_parts(self) -> tuple[str, ...] | None:
        """Names of the equal-width parts of the representation (selfVAE: u, z_1, ..., z_K), or None for one code."""
        return getattr(self.guide, "code_parts", None)

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Posterior means E_q[z | x] of images (N, C, H, W) in [0, 1]: the representation, (N, L)."""
        return self.guide.posterior_mean(images)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Mean image E[x | z] for codes (..., L) (a hierarchical program decodes its codes level by level)."""
        return self.model.decode_codes(z)

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(images))

    @torch.no_grad()
    def sample_prior(self, n: int, views: int = 1) -> torch.Tensor:
        """Codes of n images with `views` views each from the prior: (n, views, L)."""
        return self.model.sample_codes(n, views)

    def sample(self, n: int) -> torch.Tensor:
        """n images (mean of p(x | z)) with z from the prior: (n, C, H, W)."""
        return self.decode(self.sample_prior(n, 1)[:, 0])


@dataclass
class ModelParts:
    """What a model program's builder may use: the nets (the encoder is shared with the guide), prior, likelihood."""

    encoder: nn.Module
    decoder: nn.Module
    prior: nn.Module
    likelihood: nn.Module
    latent_dim: int
    image_shape: tuple[int, int, int]


def build_system(config: Config, image_shape: tuple[int, int, int]) -> nn.Module:
    """The system of the config's `method.kind`, assembled through the registries."""
    return METHODS[config.method.kind].build(config, tuple(image_shape))


@METHODS.register("svi", summary="fit the Pyro model program and guide (model.*, guide) by SVI on train.objective")
def build_generative_system(config: Config, image_shape: tuple[int, int, int]) -> GenerativeSystem:
    latent = config.model.latent_dim
    check_compatible(config)
    likelihood = build_likelihood(config.model.likelihood)
    encoder, decoder = build_nets(config.nets, image_shape, latent, likelihood.raw_channels(image_shape[0]))
    prior = build_prior(config.model.prior, PriorContext(latent, tuple(image_shape), encoder))
    parts = ModelParts(encoder, decoder, prior, likelihood, latent, tuple(image_shape))
    model = MODELS[config.model.program.kind].build(parts, config.model.program.options)
    build_guide = GUIDES[config.guide.kind].build
    # a guide made for one program (selfVAE's) is built from that program's levels
    guide = build_guide(encoder, config, model=model) if getattr(build_guide, "needs_model", False) else build_guide(encoder, config)
    return GenerativeSystem(model, guide, OBJECTIVES[config.train.objective].build(config))


def check_data_fits(config: Config, binary_data: bool) -> None:
    """Reject a likelihood that cannot score this dataset's pixels (e.g. Bernoulli on grey levels)."""
    likelihood_cls = LIKELIHOODS[config.model.likelihood.kind].build
    if getattr(likelihood_cls, "binary_data", False) and not binary_data:
        raise ConfigError(
            f"model.likelihood.kind = '{config.model.likelihood.kind}' needs binary pixels but dataset "
            f"'{config.data.dataset}' has grey levels; use --set model.likelihood.kind=gaussian or --dataset mnist"
        )


def check_compatible(config: Config) -> None:
    """Reject combinations of components that make no sense, with the reason and a fix, before anything is built."""
    objective = OBJECTIVES[config.train.objective].build
    guide = config.guide.kind
    for build in (MODELS[config.model.program.kind].build, GUIDES[guide].build):
        program_check = getattr(build, "check_config", None)  # a program's (or its guide's) own requirements
        if program_check is not None:
            program_check(config)
    if getattr(objective, "needs_guide_density", False) and not getattr(GUIDES[guide].build, "has_density", True):
        raise ConfigError(f"train.objective = '{config.train.objective}' weighs samples by 1/q(z | x), but guide.kind = "
                          f"'{guide}' is a point mass with no density; use guide.kind=mean_field or train.objective=elbo")
    if not getattr(objective, "supports_kl_weight", True) and (config.model.beta != 1.0 or config.train.kl_warmup_epochs > 0):
        raise ConfigError(f"train.objective = '{config.train.objective}' bounds log p(x) only with the KL unweighted; "
                          f"set model.beta=1 and train.kl_warmup_epochs=0, or use train.objective=elbo")
