"""The Poincaré VAE's guide (Mathieu et al. 2019; Pythae's PoincareVAE): q(z^j | x^j) = WN(z^j; exp_0(μ_φ(x^j)),
σ_φ(x^j)²), the wrapped normal on the Poincaré ball of the prior's curvature (`model.prior.kind =
poincare_wrapped_normal`), its centre the encoder's mean mapped onto the ball by exp_0 as Mathieu et al. do. The
representation is that centre."""
from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from ppl_ssl.contracts import BuildContext
from ppl_ssl.errors import ConfigError
from ppl_ssl.guides.mean_field import AmortisedGuide
from ppl_ssl.poincare import WrappedNormal, expmap0
from ppl_ssl.registry import GUIDES


def wrapped_normal_posterior(views: torch.Tensor, encoder: nn.Module, curvature: float) -> dist.TorchDistribution:
    """views (N, J, C, H, W) -> Π_j WN(exp_0(μ(x^j)), σ(x^j)²): batch (N,), event (J, L)."""
    n, j = views.shape[:2]
    loc, scale = encoder(views.flatten(0, 1))
    centre = expmap0(loc, curvature)
    return dist.Independent(WrappedNormal(centre.unflatten(0, (n, j)), scale.unflatten(0, (n, j)), curvature), 1)


def wrapped_normal_guide(views: torch.Tensor, encoder: nn.Module, curvature: float):
    with pyro.plate("images", len(views)):
        return pyro.sample("z", wrapped_normal_posterior(views, encoder, curvature))


@GUIDES.register("poincare_wrapped_normal",
                 summary="amortised wrapped normal q(z^j | x^j) on the Poincaré ball (Poincaré VAE)")
class PoincareWrappedNormalGuide(AmortisedGuide):
    has_density = True

    @classmethod
    def build(cls, options: None, context: BuildContext) -> "PoincareWrappedNormalGuide":
        guide = cls(context.encoder)
        guide.curvature = context.config.model.prior.options.curvature  # the ball is the prior's (check_config)
        return guide

    @classmethod
    def check_config(cls, config) -> None:
        if config.model.prior.kind != "poincare_wrapped_normal":
            raise ConfigError(f"guide.kind = 'poincare_wrapped_normal' draws codes on the Poincaré ball, where "
                              f"model.prior.kind = '{config.model.prior.kind}' is no density of its volume; set "
                              f"model.prior.kind = 'poincare_wrapped_normal' (or use --model poincare-vae)")

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        return wrapped_normal_guide(views, self.encoder, self.curvature)

    def posterior(self, views: torch.Tensor) -> dist.TorchDistribution:
        return wrapped_normal_posterior(views, self.encoder, self.curvature)

    def posterior_mean(self, images: torch.Tensor) -> torch.Tensor:
        """The centre exp_0(μ_φ(x)) of q(z | x) on the ball."""
        return expmap0(self.encoder(images)[0], self.curvature)
