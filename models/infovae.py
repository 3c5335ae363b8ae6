"""Two regularised VAEs of the CR-VAE paper's Table III, each the VAE's story plus one factor.

InfoVAE (Zhao et al., "InfoVAE: Balancing Learning and Inference in Variational Autoencoders"), as CR-VAE
compares it: the ELBO augmented by a divergence between the aggregate posterior and the prior,

    z^j ~ N(0, I),   x^j | z^j ~ p_θ(x | z^j)          the VAE
    − λ · N · MMD²(q(z), p(z))                          a factor: the batch's codes against as many prior draws

InfoMax-VAE (Rezaabad & Vishwanath, "Learning Representations by Maximizing Mutual Information in VAEs"):

    + γ · N · Î_DV(x; z)                                a factor: a critic's lower bound on the mutual information

Both factors are statistics of the whole batch (N images), scaled by N to weigh like the per-image ELBO summed
over the batch. As with CR-VAE, fitting either maximises ELBO + factor, which is no longer the ELBO of a model;
the logged `elbo` stays the VAE's. The critic's parameters ascend the same objective, which tightens its bound.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pyro
import torch
from torch import nn

from ppl_ssl.options import at_least, list_of, non_negative, one_of, option, positive
from ppl_ssl.contracts import BuildContext
from ppl_ssl.divergences import MutualInformationCritic, mmd_to_prior, pythae_kernel, rbf_kernel
from ppl_ssl.factors import objective_factor
from ppl_ssl.models.ssl import SSLModel
from ppl_ssl.registry import MODELS


def infovae_model(views: torch.Tensor, decoder: nn.Module, prior: nn.Module, likelihood: nn.Module,
                  mmd_weight: float, kernel):
    """views: (N, J, C, H, W)."""
    n, j = views.shape[:2]
    with pyro.plate("images", n):
        z = pyro.sample("z", prior(j))                                    # (N, J, L)
        pyro.sample("x", likelihood(decoder(z)).to_event(1), obs=views)
    objective_factor("mmd", lambda: -mmd_weight * n * mmd_to_prior(z, prior(j), kernel))
    return z


def infomax_model(views: torch.Tensor, decoder: nn.Module, prior: nn.Module, likelihood: nn.Module,
                  critic: nn.Module, mi_weight: float):
    n, j = views.shape[:2]
    with pyro.plate("images", n):
        z = pyro.sample("z", prior(j))
        pyro.sample("x", likelihood(decoder(z)).to_event(1), obs=views)
    objective_factor("infomax", lambda: mi_weight * n * critic(views.flatten(0, 1), z.flatten(0, -2)))
    return z


class InfoVAEModel(SSLModel):
    adds_factors = True  # −λ·N·MMD²: a factor only a plain ELBO weighs as InfoVAE means it

    @classmethod
    def build(cls, options: "InfoVAEOptions", context: BuildContext) -> "InfoVAEModel":
        if options.kernel == "imq":
            kernel = pythae_kernel("imq", context.latent_dim, options.bandwidth or 1.0, options.scales)
        else:
            kernel = rbf_kernel(options.bandwidth or math.sqrt(context.latent_dim / 2))
        return cls(context.decoder, context.prior, context.likelihood, options.mmd_weight, kernel)

    def __init__(self, decoder, prior, likelihood, mmd_weight: float, kernel):
        super().__init__(decoder, prior, likelihood)
        self.mmd_weight, self.kernel = mmd_weight, kernel

    def forward(self, views):
        return infovae_model(views, self.decoder, self.prior, self.likelihood, self.mmd_weight, self.kernel)


class InfoMaxModel(SSLModel):
    adds_factors = True  # γ·N·Î_DV(x; z)

    @classmethod
    def build(cls, options: "InfoMaxOptions", context: BuildContext) -> "InfoMaxModel":
        critic = MutualInformationCritic(math.prod(context.image_shape), context.latent_dim, options.critic_hidden)
        return cls(context.decoder, context.prior, context.likelihood, critic, options.mi_weight)

    def __init__(self, decoder, prior, likelihood, critic: MutualInformationCritic, mi_weight: float):
        super().__init__(decoder, prior, likelihood)
        self.critic, self.mi_weight = critic, mi_weight

    def forward(self, views):
        return infomax_model(views, self.decoder, self.prior, self.likelihood, self.critic, self.mi_weight)


@dataclass
class InfoVAEOptions:
    mmd_weight: float = option(1000.0, non_negative())  # λ (InfoVAE's MMD-VAE setting on MNIST)
    # rbf: exp(−‖a − b‖²/(2·bandwidth²)); imq: Pythae's Σ_s sC/(sC + ‖a − b‖²) with C = 2·L·bandwidth²
    kernel: str = option("rbf", one_of(("rbf", "imq")))
    bandwidth: float = option(0.0, positive(zero="rbf: √(L/2), InfoVAE's kernel exp(−‖a − b‖²/L); imq: 1"))
    scales: list[float] = option([0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0], list_of(positive(), text="positive multipliers"))


@dataclass
class InfoMaxOptions:
    mi_weight: float = option(1.0, non_negative())  # γ, per image
    critic_hidden: int = option(256, at_least(1))


MODELS.register("infovae", InfoVAEOptions, summary="VAE − λ·MMD²(q(z), p(z)) factor (InfoVAE, as CR-VAE compares it)")(InfoVAEModel)
MODELS.register("infomax", InfoMaxOptions, summary="VAE + γ·Î(x; z) factor from a critic's DV bound (InfoMax-VAE)")(InfoMaxModel)
