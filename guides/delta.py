"""Guides whose codes are points without a density.

- `delta`: q(z | x) = δ(z − μ_φ(x)). Its ELBO is log p(x | z) + log p(z) at z = μ_φ(x): a deterministic
  autoencoder fitted by MAP, the prior acting as a penalty on the codes.
- `gaussian_draw`: the point μ_φ(x) + σ_φ(x)·ε, ε ~ N(0, I), a fresh draw each time but no log q(z | x) in the
  objective: an implicit posterior, the adversarial autoencoder's stochastic encoder (Makhzani et al. 2016, as
  Pythae's AAE samples it), which nothing but the adversary keeps from collapsing its noise.

- `vector_quantised`: the codebook entry nearest μ_φ(x) (the VQ-VAE's model holds the codebook), as a point whose
  gradient passes straight through to the encoder. Its representation is μ_φ(x) before quantisation (Pythae's
  `embed`); the model quantises what it decodes.

None has a density, so neither the IWAE objective nor importance-weighted likelihoods apply; generate from them
with an ex-post sampler (or the prior, for a model that matched it)."""
from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from ppl_ssl.contracts import BuildContext
from ppl_ssl.errors import ConfigError
from ppl_ssl.guides.mean_field import AmortisedGuide
from ppl_ssl.registry import GUIDES


def point_site(codes: torch.Tensor) -> torch.Tensor:
    """The latent site z as a point (no density) at codes (N, J, L)."""
    with pyro.plate("images", len(codes)):
        return pyro.sample("z", dist.Delta(codes, event_dim=2))


def encoded(views: torch.Tensor, encoder: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder's (μ, σ) of each view, each (N, J, L)."""
    n, j = views.shape[:2]
    return tuple(part.unflatten(0, (n, j)) for part in encoder(views.flatten(0, 1)))


def delta_guide(views: torch.Tensor, encoder: nn.Module):
    return point_site(encoded(views, encoder)[0])


@GUIDES.register("delta", summary="point mass at the encoder's mean: a deterministic autoencoder fitted by MAP (AE)")
class DeltaGuide(AmortisedGuide):
    has_density = False

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        return delta_guide(views, self.encoder)


def gaussian_draw_guide(views: torch.Tensor, encoder: nn.Module):
    loc, scale = encoded(views, encoder)
    return point_site(loc + scale * torch.randn_like(loc))  # reparameterised: the gradient reaches μ_φ and σ_φ


@GUIDES.register("gaussian_draw", summary="the point μ_φ(x) + σ_φ(x)·ε without a density: an implicit posterior (AAE)")
class GaussianDrawGuide(AmortisedGuide):
    has_density = False

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        return gaussian_draw_guide(views, self.encoder)


def vector_quantised_guide(views: torch.Tensor, encoder: nn.Module, codebook):
    return point_site(codebook.straight_through(encoded(views, encoder)[0]))


@GUIDES.register("vector_quantised", summary="the codebook entry nearest μ_φ(x), straight-through gradient (VQ-VAE)")
class VectorQuantisedGuide(AmortisedGuide):
    has_density = False

    @classmethod
    def check_config(cls, config) -> None:
        if config.model.program.kind != "vq_vae":
            raise ConfigError("guide.kind = 'vector_quantised' quantises to the model's codebook, and only the vq_vae "
                              "model program has one: set model.program = 'vq_vae' (or use --model vq-vae)")

    @classmethod
    def build(cls, options: None, context: BuildContext) -> "VectorQuantisedGuide":
        guide = cls(context.encoder)
        guide.codebook = context.model.codebook  # the VQ-VAE model's (check_config saw to it)
        return guide

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        return vector_quantised_guide(views, self.encoder, self.codebook)
