"""The amortised mean-field Gaussian guide: q(z^1..z^J | x^1..x^J) = Π_j N(z^j; μ_φ(x^j), diag σ_φ(x^j)²)."""
from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from ppl_ssl.contracts import BuildContext, Guide
from ppl_ssl.registry import GUIDES


def amortised_normal(views: torch.Tensor, encoder: nn.Module) -> dist.TorchDistribution:
    """views (N, J, C, H, W) -> Π_j N(μ(x^j), σ(x^j)²): batch (N,), event (J, L). Each view is encoded on its own."""
    n, j = views.shape[:2]
    loc, scale = encoder(views.flatten(0, 1))                             # (N·J, L) each
    return dist.Normal(loc.unflatten(0, (n, j)), scale.unflatten(0, (n, j))).to_event(2)


def mean_field_guide(views: torch.Tensor, encoder: nn.Module):
    with pyro.plate("images", len(views)):
        return pyro.sample("z", amortised_normal(views, encoder))


class AmortisedGuide(Guide):
    """What every guide here shares: an encoder, and the representation E_q[z | x] = the encoder's mean."""

    @classmethod
    def build(cls, options: None, context: BuildContext) -> "AmortisedGuide":
        return cls(context.encoder)

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def posterior_mean(self, images: torch.Tensor) -> torch.Tensor:
        """E_q[z | x] for un-augmented images (N, C, H, W): the representation."""
        return self.encoder(images)[0]


@GUIDES.register("mean_field", summary="amortised diagonal Gaussian q(z^j | x^j) from the encoder")
class MeanFieldGuide(AmortisedGuide):
    has_density = True  # q(z | x) can be evaluated anywhere (importance weights, mutual information)

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        return mean_field_guide(views, self.encoder)

    def posterior(self, views: torch.Tensor) -> dist.TorchDistribution:
        return amortised_normal(views, self.encoder)
