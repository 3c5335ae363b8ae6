"""The Hamiltonian VAE's generative story (Caterini, Doucet & Sejdinovic 2018, "Hamiltonian Variational
Auto-Encoder"; Pythae's HVAE): the VAE's, on an extended latent (z, ρ) whose momentum ρ the data never see.

    z ~ p(z)                  the prior (the VAE's N(0, I))
    ρ ~ N(0, I)               momentum: p(x) = ∫∫ p(x | z) p(z) N(ρ; 0, I) dz dρ is the VAE's p(x)
    x | z ~ p_θ(x | z)

The latent site `z` holds (z, ρ) side by side, (N, J, 2L), so that the guide (`guides/hamiltonian.py`), which moves
both by Hamiltonian dynamics, and the model score the same variable. Codes handed to `decode_codes` or drawn by
`sample_codes` are the position z alone.
"""
from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import TorchDistribution, constraints
from torch import nn

from ppl_ssl.contracts import BuildContext
from ppl_ssl.errors import ConfigError
from ppl_ssl.models.ssl import SSLModel
from ppl_ssl.registry import MODELS


class WithMomentum(TorchDistribution):
    """p(z) · N(ρ; 0, I) over (z, ρ) concatenated on the last dim: `position` has event (..., L), the result (..., 2L)."""

    arg_constraints = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, position: dist.TorchDistribution, validate_args=None):
        self.position = position
        event = position.event_shape[:-1] + (2 * position.event_shape[-1],)
        super().__init__(position.batch_shape, event, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return WithMomentum(self.position.expand(batch_shape))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        z, rho = value.chunk(2, dim=-1)
        momentum = torch.distributions.Normal(0.0, 1.0).log_prob(rho).flatten(-len(self.event_shape)).sum(-1)
        return self.position.log_prob(z) + momentum

    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:
        z = self.position.rsample(sample_shape)
        return torch.cat([z, torch.randn_like(z)], -1)


class MomentumPrior(nn.Module):
    """The configured prior over positions, extended by the momentum's N(0, I): what the model program's `prior`
    is, so that every reader of `model.prior(J)` (diagnostics, samplers) sees the latent site's distribution."""

    def __init__(self, position_prior: nn.Module):
        super().__init__()
        self.position_prior = position_prior

    def forward(self, views: int) -> dist.TorchDistribution:
        return WithMomentum(self.position_prior(views))


def hvae_model(views: torch.Tensor, decoder: nn.Module, prior: MomentumPrior, likelihood: nn.Module):
    """views (N, J, C, H, W)."""
    n, j = views.shape[:2]
    with pyro.plate("images", n):
        z_and_momentum = pyro.sample("z", prior(j))                                   # (N, J, 2L)
        z, _ = z_and_momentum.chunk(2, dim=-1)
        pyro.sample("x", likelihood(decoder(z)).to_event(1), obs=views)
    return z


def log_joint(views: torch.Tensor, z: torch.Tensor, decoder: nn.Module, position_prior: nn.Module,
              likelihood: nn.Module) -> torch.Tensor:
    """log p(x, z) of positions z (..., N, J, L): the Hamiltonian's negative potential energy, per datum (..., N)."""
    return position_prior(views.shape[1]).log_prob(z) + likelihood(decoder(z)).to_event(1).log_prob(views)


class HVAEModel(SSLModel):
    @classmethod
    def build(cls, options: None, context: BuildContext) -> "HVAEModel":
        model = cls(context.decoder, MomentumPrior(context.prior), context.likelihood)
        model.latent_dim = context.latent_dim
        return model

    @classmethod
    def check_config(cls, config) -> None:
        if config.guide.kind != "hamiltonian":
            raise ConfigError("model.program = 'hvae' scores positions and momenta, which only the hamiltonian guide "
                              "draws: set guide.kind = 'hamiltonian' (or use --model hvae)")

    def forward(self, views):
        return hvae_model(views, self.decoder, self.prior, self.likelihood)

    def potential_gradient(self, views: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """∇_z log p(x, z) at positions z (..., N, J, L), differentiable itself where gradients are being taken
        (training differentiates through the dynamics), detached otherwise."""
        training = torch.is_grad_enabled()
        with torch.enable_grad():
            z = z if z.requires_grad else z.detach().requires_grad_()
            total = log_joint(views, z, self.decoder, self.prior.position_prior, self.likelihood).sum()
            gradient, = torch.autograd.grad(total, z, create_graph=training)
        return gradient

    @torch.no_grad()
    def decode_codes(self, z: torch.Tensor) -> torch.Tensor:
        """Mean image E[x | z] of positions (..., L) (a momentum beside them, (..., 2L), is dropped)."""
        return self.likelihood.mean(self.decoder(z[..., : self.latent_dim]))

    @torch.no_grad()
    def sample_codes(self, n: int, views: int = 1) -> torch.Tensor:
        """Positions of n images from the prior: (n, views, L)."""
        return self.prior.position_prior(views).sample((n,))


MODELS.register("hvae", summary="the VAE's story on (z, ρ), ρ ~ N(0, I) a momentum the data never see (HVAE)")(HVAEModel)
