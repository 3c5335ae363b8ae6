"""The hyperspherical VAE's guide (Davidson et al. 2018; Pythae's SVAE): q(z^j | x^j) = vMF(z^j; μ_φ(x^j), κ_φ(x^j))
on the unit sphere S^{L−1}, with the uniform prior on the sphere (`model.prior.kind = hyperspherical_uniform`).

The encoder's head gives L locations and L positive scales: μ is the locations normalised to unit length and
κ = 1 + the scales' mean (Pythae: 1 + softplus of one extra output), so κ > 1 as in Pythae. The representation is
μ, the mode of q (its mean A_L(κ)·μ lies inside the ball, where the decoder never looks).
"""
from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from ppl_ssl.contracts import BuildContext
from ppl_ssl.errors import ConfigError
from ppl_ssl.guides.mean_field import AmortisedGuide
from ppl_ssl.hyperspherical import VonMisesFisher
from ppl_ssl.registry import GUIDES


def direction_and_concentration(images: torch.Tensor, encoder: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(μ (N, L) of unit length, κ (N,) > 1) of un-augmented images (N, C, H, W)."""
    loc, scale = encoder(images)
    return loc / loc.norm(dim=-1, keepdim=True).clamp(min=1e-12), 1 + scale.mean(-1)


def von_mises_fisher_posterior(views: torch.Tensor, encoder: nn.Module) -> dist.TorchDistribution:
    """views (N, J, C, H, W) -> Π_j vMF(μ(x^j), κ(x^j)): batch (N,), event (J, L)."""
    n, j = views.shape[:2]
    direction, concentration = direction_and_concentration(views.flatten(0, 1), encoder)
    return dist.Independent(VonMisesFisher(direction.unflatten(0, (n, j)), concentration.unflatten(0, (n, j))), 1)


def von_mises_fisher_guide(views: torch.Tensor, encoder: nn.Module):
    with pyro.plate("images", len(views)):
        return pyro.sample("z", von_mises_fisher_posterior(views, encoder))


@GUIDES.register("von_mises_fisher", summary="amortised von Mises–Fisher q(z^j | x^j) on the unit sphere (hyperspherical VAE)")
class VonMisesFisherGuide(AmortisedGuide):
    has_density = True

    @classmethod
    def check_config(cls, config) -> None:
        if config.model.prior.kind != "hyperspherical_uniform":
            raise ConfigError(f"guide.kind = 'von_mises_fisher' draws codes on the unit sphere, where model.prior.kind = "
                              f"'{config.model.prior.kind}' has no density; set model.prior.kind = "
                              f"'hyperspherical_uniform' (or use --model svae)")
        if config.model.latent_dim < 2:
            raise ConfigError("guide.kind = 'von_mises_fisher' needs model.latent_dim ≥ 2 (a sphere in R^L)")

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        return von_mises_fisher_guide(views, self.encoder)

    def posterior(self, views: torch.Tensor) -> dist.TorchDistribution:
        return von_mises_fisher_posterior(views, self.encoder)

    def posterior_mean(self, images: torch.Tensor) -> torch.Tensor:
        """The mode μ of q(z | x) (see the module's note)."""
        return direction_and_concentration(images, self.encoder)[0]
