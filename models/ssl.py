"""The SSL latent variable model (Bizeul et al., "A Probabilistic Model behind Self-Supervised Learning").

    y                      content: which image the J views come from
    z^1..z^J | y  ~  p(z^1..z^J | y)   style-varying codes of the views, sharing content (the prior)
    x^j | z^j     ~  p_θ(x | z^j)      each view generated from its own code (the likelihood)

Fitting it by its ELBO is SimVAE. With J = 1 and a N(0, I) prior it is the VAE; with the latent
site's log-density scaled by β (in model and guide: β·KL) it is the β-VAE.
"""
from __future__ import annotations

import pyro
import pyro.poutine as poutine
import torch
from torch import nn

from ppl_ssl.registry import MODELS


def ssl_model(views: torch.Tensor, decoder: nn.Module, prior: nn.Module, likelihood: nn.Module, beta: float = 1.0):
    """views: (N, J, C, H, W), J related views of each of N images."""
    n, j = views.shape[:2]
    with pyro.plate("images", n), poutine.scale(scale=beta):
        z = pyro.sample("z", prior(j))                                    # (N, J, L): p(z^1..z^J | y)
    with pyro.plate("views", n * j):                                      # views are independent given their z^j
        pyro.sample("x", likelihood(decoder(z.flatten(0, 1))), obs=views.flatten(0, 1))
    return z


class SSLModel(nn.Module):
    """Holds the model's learnable pieces; `forward` is the generative story above."""

    def __init__(self, decoder: nn.Module, prior: nn.Module, likelihood: nn.Module, beta: float = 1.0):
        super().__init__()
        self.decoder, self.prior, self.likelihood, self.beta = decoder, prior, likelihood, beta

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        return ssl_model(views, self.decoder, self.prior, self.likelihood, self.beta)


@MODELS.register("ssl", summary="y -> z^j -> x^j with J views per image (SimVAE; VAE and β-VAE as special cases)")
def build_ssl_model(decoder: nn.Module, prior: nn.Module, likelihood: nn.Module, config) -> SSLModel:
    return SSLModel(decoder, prior, likelihood, beta=config.model.beta)
