"""Priors over the latent codes of the J views of one image: p(z^1..z^J).

Each prior is an `nn.Module` called with the number of views J and returning a Pyro distribution of event
shape (J, L), so any model program can use any prior. Chosen by `model.prior.kind`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pyro.distributions as dist
import torch
from torch import nn

from ppl_ssl.config import option
from ppl_ssl.distributions import ExchangeableGaussian
from ppl_ssl.registry import PRIORS


@PRIORS.register("standard_normal", summary="z^j ~ N(0, I) independently for each view (the VAE prior)")
class StandardNormalPrior(nn.Module):
    def __init__(self, latent_dim: int, options: None = None):
        super().__init__()
        self.latent_dim = latent_dim
        self.register_buffer("zero", torch.zeros(()))

    def forward(self, views: int) -> dist.TorchDistribution:
        return dist.Normal(self.zero, 1.0).expand((views, self.latent_dim)).to_event(2)


@dataclass
class SSLGroupOptions:
    # σ², variance of each view's z around the shared content ψ (paper: 0.15)
    sigma2: float = option(0.15, lambda v: v > 0, "positive")
    # γ, scale of the content prior ψ ~ N(0, γ² I); γ → ∞ gives the paper's (improper) pinch term
    gamma: float = option(1.0, lambda v: v > 0, "positive")


@PRIORS.register("ssl_group", SSLGroupOptions, summary="ψ ~ N(0, γ²I), z^j | ψ ~ N(ψ, σ²I), ψ integrated out (SimVAE)")
class SSLGroupPrior(nn.Module):
    def __init__(self, latent_dim: int, options: SSLGroupOptions):
        super().__init__()
        self.latent_dim = latent_dim
        self.register_buffer("sigma", torch.tensor(math.sqrt(options.sigma2)))
        self.register_buffer("gamma", torch.tensor(float(options.gamma)))

    def forward(self, views: int) -> dist.TorchDistribution:
        return ExchangeableGaussian(views, self.latent_dim, self.sigma, self.gamma)


def build_prior(component, latent_dim: int) -> nn.Module:
    return PRIORS[component.kind].build(latent_dim, component.options)
