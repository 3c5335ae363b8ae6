"""The "svi" method: a model program and a guide fitted by SVI on the [objective] (`GenerativeSystem`).

What every method offers the trainer and the evaluation is `ppl_ssl.contracts.Method`; the discriminative
baselines live in `ppl_ssl.baselines`. Components are assembled through the registries, each built from its
options and the `BuildContext` of the parts built before it.
"""
from __future__ import annotations

import torch
from torch import nn

from ppl_ssl.contracts import BuildContext, Method
from ppl_ssl.errors import ConfigError
from ppl_ssl.registry import GUIDES, LIKELIHOODS, METHODS, MODELS, NETS, OBJECTIVES, OPTIMISERS, PRIORS, SCHEDULES


@METHODS.register("svi", summary="fit the Pyro model program and guide (model.*, guide) by SVI on the [objective]")
class GenerativeSystem(Method):
    """Owns the ELBO module (which owns model and guide) and offers what users do with a fitted model."""

    can_decode = True
    uses_objective = True

    @classmethod
    def check_config(cls, config) -> None:
        check_compatible(config)

    @classmethod
    def build(cls, options: None, context: BuildContext) -> "GenerativeSystem":
        config = context.config
        model_config = config.model
        likelihood = LIKELIHOODS.build(model_config.likelihood.kind, model_config.likelihood.options, context)
        context = context.with_parts(likelihood=likelihood, output_channels=likelihood.raw_channels(context.image_shape[0]))
        encoder, decoder = NETS.build(config.nets.kind, config.nets.options, context)
        context = context.with_parts(encoder=encoder, decoder=decoder)
        context = context.with_parts(prior=PRIORS.build(model_config.prior.kind, model_config.prior.options, context))
        model = MODELS.build(model_config.program.kind, model_config.program.options, context)
        guide = GUIDES.build(config.guide.kind, config.guide.options, context.with_parts(model=model))
        return cls(model, guide, OBJECTIVES.build(config.objective.kind, config.objective.options, context))

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

    def kl_weight_at(self, epochs_done: float) -> float:
        """The objective's KL weight after `epochs_done` epochs (β, or its warm-up value; 1 without a KL weight)."""
        return self.elbo.kl_weight_at(epochs_done)

    def after_step(self) -> None:
        """After each optimiser step: programs holding momentum networks or queues (CR-VAE) update them."""
        self.model.after_step()
        self.guide.after_step()

    @property
    def pauses_parts(self) -> bool:
        """Whether the model program's loss may ask parts to sit out a step (VAEGAN's equilibrium)."""
        return self.model.pauses_parts

    def paused_parts(self) -> list[tuple[list[nn.Parameter], torch.Tensor]]:
        return self.model.paused_parts()

    @property
    def has_density(self) -> bool:
        """Whether the guide's q(z | x) is a density (needed by importance weights and posterior diagnostics)."""
        return self.guide.has_density

    def training_loss(self, views: torch.Tensor, kl_weight: float | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss to minimise on a batch of views (N, J, C, H, W) and its terms, summed over the batch; the KL term
        weighted by `kl_weight` (None: the weight last given, at first the objective's β; an objective without a
        KL weight keeps 1)."""
        if kl_weight is not None and self.elbo.weighs_kl:
            self.elbo.kl_weight = kl_weight
        loss = self.objective(views)
        return loss, self.elbo.last_terms

    def validation_loss(self, views: torch.Tensor) -> torch.Tensor:
        """The model program's choice from the training loss's terms (the loss, but for VAEGAN)."""
        return self.model.validation_loss(self.training_loss(views)[1])

    @property
    def code_parts(self) -> tuple[str, ...] | None:
        """Names of the equal-width parts of the representation (selfVAE: u, z_1, ..., z_K), or None for one code."""
        return self.guide.code_parts

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


def build_system(config, image_shape: tuple[int, int, int]) -> nn.Module:
    """The system of the config's `method.kind`, assembled through the registries."""
    context = BuildContext(config, tuple(image_shape), config.model.latent_dim)
    for registry, component in ((METHODS, config.method), (OPTIMISERS, config.optim), (SCHEDULES, config.schedule)):
        registry[component.kind].component.check_config(config)
    return METHODS.build(config.method.kind, config.method.options, context)


def check_data_fits(config, binary_data: bool) -> None:
    """Reject a likelihood that cannot score this dataset's pixels (e.g. Bernoulli on grey levels)."""
    if LIKELIHOODS[config.model.likelihood.kind].component.binary_data and not binary_data:
        raise ConfigError(
            f"model.likelihood.kind = '{config.model.likelihood.kind}' needs binary pixels but dataset "
            f"'{config.data.dataset}' has grey levels; use --set model.likelihood.kind=gaussian or --dataset mnist"
        )


def check_compatible(config) -> None:
    """Reject combinations of components that make no sense, with the reason and a fix, before anything is built."""
    objective = OBJECTIVES[config.objective.kind].component
    program = MODELS[config.model.program.kind].component
    guide = GUIDES[config.guide.kind].component
    for component in (program, guide, objective, PRIORS[config.model.prior.kind].component,
                      LIKELIHOODS[config.model.likelihood.kind].component):
        component.check_config(config)  # each component's own requirements of the rest of the config
    if program.adds_factors and not objective.accepts_factors:
        raise ConfigError(f"model.program = '{config.model.program.kind}' adds a factor to the ELBO; objective.kind = "
                          f"'{config.objective.kind}' would weigh it as a likelihood; use objective.kind=elbo")
    if objective.needs_guide_density and not guide.has_density:
        raise ConfigError(f"objective.kind = '{config.objective.kind}' weighs samples by 1/q(z | x), but guide.kind = "
                          f"'{config.guide.kind}' is a point mass with no density; use guide.kind=mean_field or objective.kind=elbo")
