"""Contrastive CR-VAE (Lygerakis & Rueckert, "CR-VAE: Contrastive Regularization on Variational Autoencoders").

    z^j ~ N(0, I),   x^j | z^j ~ p_θ(x | z^j)                    a VAE on each of the J views
    + γ · (−InfoNCE(z^1, k^2))                                    a factor, not a distribution

The query is view 1's code z^1 as the guide samples it (`query = "mean"`: the encoder's mean instead), the
positive key k^2 comes from a momentum (EMA) copy of the encoder on view 2, the negatives from a FIFO queue.
Fitting this with Trace_ELBO maximises ELBO + γ·(−InfoNCE): the factor depends on the guide's sample and on
a network that is not part of p(x, z), so **the objective is no longer the ELBO of any model** — unlike
SimVAE's, whose content-sharing term is a prior. The logged `elbo` is the VAE's ELBO; `contrast` is the factor.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyro
import torch
from torch import nn

from ppl_ssl.options import at_least, between, non_negative, one_of, option, positive
from ppl_ssl.contrastive import MomentumContrast
from ppl_ssl.contracts import BuildContext
from ppl_ssl.errors import ConfigError
from ppl_ssl.factors import objective_factor
from ppl_ssl.models.ssl import SSLModel
from ppl_ssl.registry import MODELS


def contrastive_crvae_model(views: torch.Tensor, decoder: nn.Module, prior: nn.Module, likelihood: nn.Module,
                contrast: nn.Module, gamma: float):
    """views: (N, J, C, H, W). The contrastive factor needs a second view, so single test images score as a VAE."""
    n, j = views.shape[:2]
    with pyro.plate("images", n):
        z = pyro.sample("z", prior(j))                                    # (N, J, L): N(0, I) per view
        pyro.sample("x", likelihood(decoder(z)).to_event(1), obs=views)   # Π_j p(x^j | z^j)
        if j > 1:
            objective_factor("contrast", lambda: -gamma * contrast(z[..., 0, :], views))
    return z


class SampledCode(nn.Module):
    """A reparameterised draw z = μ(x) + σ(x)·ε from an encoder: CR-VAE's key network (before its momentum copy)."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        loc, scale = self.encoder(images)
        return loc + scale * torch.randn_like(loc)


class ViewContrast(nn.Module):
    """InfoNCE between view 1's query and momentum keys of the other views (`MomentumContrast`)."""

    def __init__(self, encoder: nn.Module, latent_dim: int, options: "ContrastiveCRVAEOptions"):
        super().__init__()
        self.online = SampledCode(encoder)
        self.momentum = MomentumContrast(self.online, latent_dim, options.queue_size, options.temperature, options.momentum)
        self.query_is_mean = options.query == "mean"

    def forward(self, z_first_view: torch.Tensor, views: torch.Tensor) -> torch.Tensor:
        query = self.online.encoder(views[:, 0])[0] if self.query_is_mean else z_first_view
        return self.momentum(query, views[:, 1:])

    def after_step(self) -> None:
        self.momentum.after_step(self.online)


class ContrastiveCRVAEModel(SSLModel):
    """The SSL model's pieces (decoding and prior sampling included) plus the contrastive factor.

    Not `crvae_consistency` (Sinha & Dieng's consistency-regularised CR-VAE, the SimVAE papers' baseline)."""

    adds_factors = True  # γ·(−InfoNCE): a factor only a plain ELBO weighs as the paper means it

    @classmethod
    def build(cls, options: "ContrastiveCRVAEOptions", context: BuildContext) -> "ContrastiveCRVAEModel":
        contrast = ViewContrast(context.encoder, context.latent_dim, options)
        return cls(context.decoder, context.prior, context.likelihood, contrast, options.gamma)

    @classmethod
    def check_config(cls, config) -> None:
        if config.model.views < 2:
            raise ConfigError(f"model.program = 'crvae_contrastive' contrasts view 1 with view 2 and needs model.views ≥ 2, "
                              f"got {config.model.views}; use --views 2")

    def __init__(self, decoder: nn.Module, prior: nn.Module, likelihood: nn.Module, contrast: ViewContrast, gamma: float):
        super().__init__(decoder, prior, likelihood)
        self.contrast, self.gamma = contrast, gamma

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        return contrastive_crvae_model(views, self.decoder, self.prior, self.likelihood, self.contrast, self.gamma)

    def after_step(self) -> None:
        self.contrast.after_step()


@dataclass
class ContrastiveCRVAEOptions:
    gamma: float = option(1.0, non_negative())          # weight of −InfoNCE (the CR-VAE paper's γ = 1)
    temperature: float = option(0.1, positive())
    queue_size: int = option(4096, at_least(1))
    momentum: float = option(0.99, between(0, 1, high_open=True))
    query: str = option("sample", one_of(("sample", "mean"), note="sample: the authors' choice"))


MODELS.register("crvae_contrastive", ContrastiveCRVAEOptions,
                summary="VAE on J ≥ 2 views + γ·(−InfoNCE) factor with a momentum key encoder (Lygerakis & Rueckert's CR-VAE)")(ContrastiveCRVAEModel)
