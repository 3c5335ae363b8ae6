"""β-TC-VAE (Chen et al., "Isolating Sources of Disentanglement in Variational Autoencoders", NeurIPS 2018): the VAE's
story, its KL term reweighted part by part.

    z ~ N(0, I),  x | z ~ p_θ(x | z)                                       the VAE
    ELBO − (α − 1)·I_q(x; z) − (β − 1)·TC(q(z)) − (γ − 1)·Σ_d KL(q(z_d) ‖ p(z_d))      the objective maximised

The three parts sum to the ELBO's own E_q[log q(z|x) − log p(z)] (`ppl_ssl.divergences.decomposed_kl`), so
α = β = γ = 1 is the VAE, and the factor changes only the weights. Like CR-VAE's consistency term, the factor
reads q's parameters by encoding the views again (the model cannot read the guide's distribution), and q(z) is
estimated on the batch, so the objective is not the ELBO of a model.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyro
import torch
from torch import nn

from ppl_ssl.contracts import BuildContext
from ppl_ssl.divergences import decomposed_kl
from ppl_ssl.factors import objective_factor
from ppl_ssl.models.ssl import SSLModel, require_the_vaes_settings
from ppl_ssl.options import non_negative, option
from ppl_ssl.registry import MODELS


def beta_tc_vae_model(views: torch.Tensor, decoder: nn.Module, prior: nn.Module, likelihood: nn.Module,
                      encoder: nn.Module, alpha: float, beta: float, gamma: float):
    """views: (N, 1, C, H, W)."""
    n, j = views.shape[:2]
    with pyro.plate("images", n):
        z = pyro.sample("z", prior(j))                                    # (N, 1, L)
        pyro.sample("x", likelihood(decoder(z)).to_event(1), obs=views)

    def reweighting() -> torch.Tensor:  # −(α − 1)·MI − (β − 1)·TC − (γ − 1)·dimension-wise KL, by minibatch sampling
        loc, scale = (part.float() for part in encoder(views.flatten(0, 1)))
        parts = decomposed_kl(z.reshape(loc.shape), loc, scale)
        return -((alpha - 1) * parts["mutual_information"] + (beta - 1) * parts["total_correlation"]
                 + (gamma - 1) * parts["dimension_wise_kl"]).sum()

    objective_factor("kl_reweighting", reweighting)
    return z


@dataclass
class BetaTCVAEOptions:
    alpha: float = option(1.0, non_negative())  # weight of the mutual information I_q(x; z)
    beta: float = option(6.0, non_negative())   # weight of the total correlation (Chen et al.'s β = 6)
    gamma: float = option(1.0, non_negative())  # weight of the dimension-wise KL


class BetaTCVAEModel(SSLModel):
    adds_factors = True

    @classmethod
    def build(cls, options: BetaTCVAEOptions, context: BuildContext) -> "BetaTCVAEModel":
        model = cls(context.decoder, context.prior, context.likelihood)
        model.encoder, model.options = context.encoder, options  # the guide's encoder, shared
        return model

    @classmethod
    def check_config(cls, config) -> None:
        require_the_vaes_settings(config, "beta_tc_vae", "the VAE's story reweighted", "beta-tc-vae")

    def forward(self, views):
        o = self.options
        return beta_tc_vae_model(views, self.decoder, self.prior, self.likelihood, self.encoder, o.alpha, o.beta, o.gamma)


MODELS.register("beta_tc_vae", BetaTCVAEOptions,
                summary="VAE with its KL split into MI, total correlation and dimension-wise KL, reweighted α, β, γ (β-TC-VAE)")(BetaTCVAEModel)
