"""The Delta guide: q(z | x) = δ(z − μ_φ(x)). Its ELBO is log p(x | z) + log p(z) at z = μ_φ(x): a deterministic
autoencoder fitted by MAP, the prior acting as a penalty on the codes. It has no density, so neither the IWAE
objective nor importance-weighted likelihoods apply; generate from it with an ex-post sampler."""
from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from ppl_ssl.guides.mean_field import AmortisedGuide
from ppl_ssl.registry import GUIDES


def delta_guide(views: torch.Tensor, encoder: nn.Module):
    n, j = views.shape[:2]
    codes = encoder(views.flatten(0, 1))[0].unflatten(0, (n, j))
    with pyro.plate("images", n):
        return pyro.sample("z", dist.Delta(codes, event_dim=2))


@GUIDES.register("delta", summary="point mass at the encoder's mean: a deterministic autoencoder fitted by MAP (AE)")
class DeltaGuide(AmortisedGuide):
    has_density = False

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        return delta_guide(views, self.encoder)
