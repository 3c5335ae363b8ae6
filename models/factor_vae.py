"""FactorVAE (Kim & Mnih, "Disentangling by Factorising", ICML 2018): the VAE's story, fitted with its aggregate
posterior's total correlation penalised, the total correlation estimated by a discriminator.

    z ~ N(0, I),  x | z ~ p_θ(x | z)                                      the VAE
    ELBO − γ·TC(q(z)),   TC(q(z)) = KL(q(z) ‖ Π_d q(z_d)) ≈ Σ_n logit D(z_n)    the objective maximised

Two training rules in one loss, kept apart by what each term can reach (`TotalCorrelationDiscriminator`):
- the VAE's: −ELBO + γ·Σ_n logit D(z_n), with D's parameters held fixed in that term;
- the discriminator's: its cross-entropy between the batch's codes (detached) and their dimension-wise
  permutation, which reaches D's parameters only.
One optimiser takes both, at one learning rate; Kim & Mnih (and Pythae) give D its own Adam with its own rate,
and draw the permuted codes from a second batch (Pythae: the other half of the batch), where here they are the
same batch's codes permuted. Both are objective terms (`objective_factor`), no part of p(x, z).
"""
from __future__ import annotations

from dataclasses import dataclass

import pyro
import torch
from torch import nn

from ppl_ssl.contracts import BuildContext
from ppl_ssl.divergences import TotalCorrelationDiscriminator
from ppl_ssl.factors import objective_factor
from ppl_ssl.models.ssl import SSLModel, require_the_vaes_settings
from ppl_ssl.options import non_negative, option, widths
from ppl_ssl.registry import MODELS


def factor_vae_model(views: torch.Tensor, decoder: nn.Module, prior: nn.Module, likelihood: nn.Module,
                     discriminator: TotalCorrelationDiscriminator, gamma: float):
    """views: (N, 1, C, H, W)."""
    n, j = views.shape[:2]
    with pyro.plate("images", n):
        z = pyro.sample("z", prior(j))                                    # (N, 1, L)
        pyro.sample("x", likelihood(decoder(z)).to_event(1), obs=views)
    codes = z.reshape(n, -1)
    objective_factor("total_correlation", lambda: -gamma * discriminator.log_ratio(codes).sum())
    objective_factor("discriminator", lambda: -n * discriminator.tc_loss(codes))
    return z


@dataclass
class FactorVAEOptions:
    gamma: float = option(2.0, non_negative())  # weight of the total correlation (Pythae's default)
    discriminator_hidden: list[int] = option([1000] * 5, widths())  # Kim & Mnih's and Pythae's D: 5 × 1000


@MODELS.register("factor_vae", FactorVAEOptions,
                 summary="VAE with the total correlation of q(z) penalised, estimated by a discriminator (FactorVAE)")
class FactorVAEModel(SSLModel):
    adds_factors = True

    @classmethod
    def build(cls, options: FactorVAEOptions, context: BuildContext) -> "FactorVAEModel":
        model = cls(context.decoder, context.prior, context.likelihood)
        model.discriminator = TotalCorrelationDiscriminator(context.latent_dim, options.discriminator_hidden)
        model.gamma = options.gamma
        return model

    @classmethod
    def check_config(cls, config) -> None:
        require_the_vaes_settings(config, "factor_vae", "the VAE's story with a penalty on q(z)", "factor-vae")

    def forward(self, views):
        return factor_vae_model(views, self.decoder, self.prior, self.likelihood, self.discriminator, self.gamma)
