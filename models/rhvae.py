"""The Riemannian Hamiltonian VAE's generative story (Chadebec, Mantoux & Allassonnière 2020, "Geometry-Aware
Hamiltonian Variational Auto-Encoder"; Pythae's RHVAE): the HVAE's extended latent (z, ρ), the momentum now drawn
with a metric G(z) of the latent space that is learnt with the model.

    z ~ p(z)                          the prior (the VAE's N(0, I))
    ρ | z ~ N(0, G(z))                the Riemannian momentum: it integrates out, so p(x) is the VAE's
    x | z ~ p_θ(x | z)

    G⁻¹(z) = Σ_i L_ψ(x_i) L_ψ(x_i)ᵀ exp(−‖z − c_i‖² / T²) + λ I,    c_i = μ_φ(x_i)

The anchors (c_i, L_ψ(x_i)) are, in training, the batch's own images (their encoder means and the metric network's
lower-triangular factors, with gradients), as the paper trains it; in evaluation, the last `anchors` training
images' anchors, stored as they pass (Pythae keeps the last 100 batches). Since any momentum distribution leaves
p(x) unchanged, each choice gives a valid ELBO (`guides/riemannian_hamiltonian.py` moves (z, ρ) along this
Hamiltonian); the metric shapes only how the guide's dynamics explore.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import TorchDistribution, constraints
from torch import nn

from ppl_ssl.contracts import BuildContext
from ppl_ssl.errors import ConfigError
from ppl_ssl.models.hvae import HVAEModel, log_joint
from ppl_ssl.options import at_least, option, positive
from ppl_ssl.riemannian import Anchors, RiemannianMetric, riemannian_momentum, riemannian_momentum_log_prob
from ppl_ssl.registry import MODELS


@dataclass
class RHVAEOptions:
    temperature: float = option(1.5, positive("metric temperature T (Pythae's default)"))
    regularisation: float = option(0.01, positive("λ of G⁻¹(z) = Σ L Lᵀ exp(−‖z − c‖²/T²) + λI (Pythae's default)"))
    metric_hidden: int = option(400, at_least(1, "hidden units of the metric network L_ψ(x) (Pythae's)"))
    anchors: int = option(10000, at_least(1, "training images whose anchors define the metric in evaluation"))


class WithRiemannianMomentum(TorchDistribution):
    """p(z) · N(ρ; 0, G(z)) over (z, ρ) concatenated on the last dim; event (J, 2L) for a position of event (J, L)."""

    arg_constraints = {}
    support = constraints.independent(constraints.real, 2)
    has_rsample = True

    def __init__(self, position: dist.TorchDistribution, metric: RiemannianMetric, anchors: Anchors, validate_args=None):
        self.position, self.metric, self.anchors = position, metric, anchors
        event = position.event_shape[:-1] + (2 * position.event_shape[-1],)
        super().__init__(position.batch_shape, event, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return WithRiemannianMomentum(self.position.expand(batch_shape), self.metric, self.anchors)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        z, rho = value.chunk(2, dim=-1)
        return self.position.log_prob(z) + riemannian_momentum_log_prob(rho, self.metric.inverse(z, self.anchors))

    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:
        z = self.position.rsample(sample_shape)
        return torch.cat([z, riemannian_momentum(self.metric.inverse(z, self.anchors))], -1)


class RiemannianMomentumPrior(nn.Module):
    """p(z) · N(ρ; 0, G(z)) with the stored anchors' metric: what `model.prior(J)` is for its readers (diagnostics,
    samplers); the story itself uses the batch's anchors in training."""

    def __init__(self, position_prior: nn.Module, metric: RiemannianMetric):
        super().__init__()
        self.position_prior = position_prior
        object.__setattr__(self, "metric", metric)  # the model's; kept outside this module's tree

    def forward(self, views: int) -> dist.TorchDistribution:
        return WithRiemannianMomentum(self.position_prior(views), self.metric, self.metric.stored_anchors())


def rhvae_model(views: torch.Tensor, decoder: nn.Module, position_prior: nn.Module, metric: RiemannianMetric,
                anchors: Anchors, likelihood: nn.Module):
    """views (N, J, C, H, W); `anchors` define G(z) (the batch's in training, the stored ones in evaluation)."""
    n, j = views.shape[:2]
    with pyro.plate("images", n):
        z_and_momentum = pyro.sample("z", WithRiemannianMomentum(position_prior(j), metric, anchors))   # (N, J, 2L)
        z, _ = z_and_momentum.chunk(2, dim=-1)
        pyro.sample("x", likelihood(decoder(z)).to_event(1), obs=views)
    return z


class RHVAEModel(HVAEModel):
    @classmethod
    def build(cls, options: RHVAEOptions, context: BuildContext) -> "RHVAEModel":
        metric = RiemannianMetric(math.prod(context.image_shape), context.latent_dim, options.metric_hidden,
                                  options.temperature, options.regularisation, options.anchors)
        model = cls(context.decoder, RiemannianMomentumPrior(context.prior, metric), context.likelihood)
        model.metric, model.latent_dim = metric, context.latent_dim
        # the centres are the guide's encoder means μ_φ(x_i); the encoder is the guide's, kept outside this tree
        object.__setattr__(model, "encoder", context.encoder)
        return model

    @classmethod
    def check_config(cls, config) -> None:
        if config.guide.kind != "riemannian_hamiltonian":
            raise ConfigError("model.program = 'rhvae' scores positions and Riemannian momenta, which only the "
                              "riemannian_hamiltonian guide draws: set guide.kind = 'riemannian_hamiltonian' (or use "
                              "--model rhvae)")

    def anchors(self, views: torch.Tensor, store: bool = True) -> Anchors:
        """The anchors that define G(z) for this batch: its own in training (stored for evaluation where `store`: the
        story's, not the guide's, so that each image is stored once), the stored ones in evaluation."""
        if not self.training:
            return self.metric.stored_anchors()
        return self.metric.batch_anchors(views, self.encoder, store=store and torch.is_grad_enabled())

    def forward(self, views):
        return rhvae_model(views, self.decoder, self.prior.position_prior, self.metric, self.anchors(views),
                           self.likelihood)

    def hamiltonian(self, views: torch.Tensor, z: torch.Tensor, rho: torch.Tensor, anchors: Anchors) -> torch.Tensor:
        """H(z, ρ) = −log p(x, z) − log N(ρ; 0, G(z)), per datum (..., N)."""
        log_momentum = riemannian_momentum_log_prob(rho, self.metric.inverse(z, anchors))
        return -(log_joint(views, z, self.decoder, self.prior.position_prior, self.likelihood) + log_momentum)

    def hamiltonian_gradient_z(self, views, z, rho, anchors) -> torch.Tensor:
        """∂H/∂z at (z, ρ), the partial derivative at fixed ρ, differentiable itself where gradients are being taken
        (training differentiates through the dynamics), detached otherwise."""
        training = torch.is_grad_enabled()
        with torch.enable_grad():
            # a fresh node for z: ρ may itself depend on z (the implicit half step), and autograd.grad with respect
            # to z itself would follow that path too, giving the total derivative instead of ∂H/∂z
            z = z.view_as(z) if training and z.requires_grad else z.detach().requires_grad_()
            gradient, = torch.autograd.grad(self.hamiltonian(views, z, rho, anchors).sum(), z, create_graph=training)
        return gradient

    def velocity(self, z: torch.Tensor, rho: torch.Tensor, anchors: Anchors) -> torch.Tensor:
        """∂H/∂ρ = G⁻¹(z) ρ."""
        return (self.metric.inverse(z, anchors) @ rho.unsqueeze(-1)).squeeze(-1)


MODELS.register("rhvae", RHVAEOptions, summary="the HVAE's story with a Riemannian momentum ρ | z ~ N(0, G(z)), G "
                "learnt from anchors c_i = μ(x_i), L_ψ(x_i) (RHVAE)")(RHVAEModel)
