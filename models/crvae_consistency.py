"""CR-VAE (Sinha & Dieng, "Consistency Regularization for Variational Auto-Encoders", NeurIPS 2021, Eq. 3).

    z ~ N(0, I),  x | z ~ p_θ(x | z)        the VAE, fitted on an image x and on a transformation t(x) of it
    L(x) + L(t(x)) − λ · KL(q_φ(z | t(x)) ‖ q_φ(z | x))        the objective maximised

Views: view 1 is x itself (`augment.original_first = true` in the preset) and views 2..J are transformations
t_j(x); the regulariser is summed over them (J = 2, one transformation, is the paper's). It is a closed-form
Gaussian KL between two outputs of the encoder, entered as a factor −λ·KL: the objective is the VAE's ELBO on
every view plus a term that depends on the guide's network only — not the ELBO of any model (the logged `elbo`
is Trace_ELBO's estimate with the factor included, `consistency` the factor). λ = 0.1 is the SimVAE paper's
value (its Appendix A.7.4); the authors' code defaults to 1e-3.

This is not `crvae_contrastive` (Lygerakis & Rueckert's contrastive CR-VAE): the SimVAE papers' tables compare
with this one.

The factor encodes the views a second time (the guide encoded them already): Pyro's model cannot read the
guide's distribution, and passing it around behind Pyro's back would break the objectives that run the guide
several times (particles). The encoder's forward and backward are therefore paid twice per step.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyro
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from ppl_ssl.contracts import BuildContext
from ppl_ssl.errors import ConfigError
from ppl_ssl.factors import objective_factor
from ppl_ssl.models.ssl import SSLModel
from ppl_ssl.options import non_negative, option
from ppl_ssl.registry import MODELS


def consistency_kl(views: torch.Tensor, encoder: nn.Module) -> torch.Tensor:
    """Σ_{j ≥ 2} KL(q(z | x^j) ‖ q(z | x^1)) of each image, in closed form: views (N, J, C, H, W) -> (N,)."""
    n, j = views.shape[:2]
    loc, scale = (part.float().unflatten(0, (n, j)) for part in encoder(views.flatten(0, 1)))
    original = Normal(loc[:, :1], scale[:, :1])            # q(z | x)
    transformed = Normal(loc[:, 1:], scale[:, 1:])         # q(z | t_j(x)), j = 2..J
    return kl_divergence(transformed, original).sum((-2, -1))


def consistency_crvae_model(views: torch.Tensor, decoder: nn.Module, prior: nn.Module, likelihood: nn.Module,
                            encoder: nn.Module, weight: float):
    """views: (N, J, C, H, W), view 1 the image, views 2..J its transformations. Single test images score as a VAE."""
    n, j = views.shape[:2]
    with pyro.plate("images", n):
        z = pyro.sample("z", prior(j))                                    # (N, J, L): N(0, I) per view
        pyro.sample("x", likelihood(decoder(z)).to_event(1), obs=views)   # p(x | z^1) Π_j p(t_j(x) | z^j)
        if j > 1:
            objective_factor("consistency", lambda: -weight * consistency_kl(views, encoder))
    return z


class ConsistencyCRVAEModel(SSLModel):
    """The VAE's pieces (decoding and prior sampling included) plus the consistency factor."""

    adds_factors = True  # −λ·KL(q(z|t(x)) ‖ q(z|x)): a factor only a plain ELBO weighs as the paper means it

    @classmethod
    def build(cls, options: "ConsistencyCRVAEOptions", context: BuildContext) -> "ConsistencyCRVAEModel":
        return cls(context.decoder, context.prior, context.likelihood, context.encoder, options.weight)

    @classmethod
    def check_config(cls, config) -> None:
        if config.model.views < 2:
            raise ConfigError(f"model.program = 'crvae_consistency' compares an image with its transformation and needs "
                              f"model.views ≥ 2, got {config.model.views}; use --views 2")

    def __init__(self, decoder: nn.Module, prior: nn.Module, likelihood: nn.Module, encoder: nn.Module, weight: float):
        super().__init__(decoder, prior, likelihood)
        # the guide's encoder, shared (its parameters are counted once): the factor reads q's parameters through it
        self.encoder, self.weight = encoder, weight

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        return consistency_crvae_model(views, self.decoder, self.prior, self.likelihood, self.encoder, self.weight)


@dataclass
class ConsistencyCRVAEOptions:
    # λ, the weight of KL(q(z | t(x)) ‖ q(z | x)) (the SimVAE paper's 0.1; Sinha & Dieng's code defaults to 1e-3)
    weight: float = option(0.1, non_negative())


MODELS.register("crvae_consistency", ConsistencyCRVAEOptions,
                summary="VAE on an image and its transformations − λ·KL(q(z|t(x)) ‖ q(z|x)) (Sinha & Dieng's CR-VAE)"
                )(ConsistencyCRVAEModel)
