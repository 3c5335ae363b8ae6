"""The amortised mean-field Gaussian guide: q(z^1..z^J | x^1..x^J) = Π_j N(z^j; μ_φ(x^j), diag σ_φ(x^j)²)."""
from __future__ import annotations

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch
from torch import nn

from ppl_ssl.registry import GUIDES


def mean_field_guide(views: torch.Tensor, encoder: nn.Module, beta: float = 1.0):
    """views: (N, J, C, H, W); each view is encoded on its own (the posterior factorises over views)."""
    n, j = views.shape[:2]
    loc, scale = encoder(views.flatten(0, 1))                             # (N·J, L) each
    with pyro.plate("images", n), poutine.scale(scale=beta):
        return pyro.sample("z", dist.Normal(loc.unflatten(0, (n, j)), scale.unflatten(0, (n, j))).to_event(2))


class MeanFieldGuide(nn.Module):
    def __init__(self, encoder: nn.Module, beta: float = 1.0):
        super().__init__()
        self.encoder, self.beta = encoder, beta

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        return mean_field_guide(views, self.encoder, self.beta)

    def posterior_mean(self, images: torch.Tensor) -> torch.Tensor:
        """E_q[z | x] for un-augmented images (N, C, H, W): the representation."""
        return self.encoder(images)[0]


@GUIDES.register("mean_field", summary="amortised diagonal Gaussian q(z^j | x^j) from the encoder")
def build_mean_field_guide(encoder: nn.Module, config) -> MeanFieldGuide:
    return MeanFieldGuide(encoder, beta=config.model.beta)
