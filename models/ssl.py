"""The SSL latent variable model (Bizeul et al., "A Probabilistic Model behind Self-Supervised Learning").

    y                      content: which image the J views come from
    z^1..z^J | y  ~  p(z^1..z^J | y)   style-varying codes of the views, sharing content (the prior)
    x^j | z^j     ~  p_θ(x | z^j)      each view generated from its own code (the likelihood)

Fitting it by its ELBO is SimVAE. With J = 1 and a N(0, I) prior it is the VAE; fitting that with the KL
term weighted by β (the objective scales the latent site in model and guide, `objective.beta`) is the
β-VAE. The prior, likelihood and decoder are arguments: `model.prior.kind` etc. swap them without code edits.
"""
from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from ppl_ssl.contracts import BuildContext, ModelProgram
from ppl_ssl.errors import ConfigError
from ppl_ssl.registry import MODELS


def ssl_model(views: torch.Tensor, decoder: nn.Module, prior: nn.Module, likelihood: nn.Module):
    """views: (N, J, C, H, W), J related views of each of N images."""
    n, j = views.shape[:2]
    with pyro.plate("images", n):
        z = pyro.sample("z", prior(j))                                    # (N, J, L): p(z^1..z^J | y)
        pyro.sample("x", likelihood(decoder(z)).to_event(1), obs=views)   # Π_j p(x^j | z^j)
    return z


def ssl_model_with_content(views: torch.Tensor, decoder: nn.Module, likelihood: nn.Module, latent_dim: int,
                           sigma: float, gamma: float):
    """The same story with the content ψ drawn explicitly (the paper's Figure 1), for reading and rendering:

        ψ ~ N(0, γ²I)                 content of an image
        z^j | ψ ~ N(ψ, σ²I)           style-varying code of view j   (plate over the J views)
        x^j | z^j ~ p_θ(x | z^j)

    Fitting uses `ssl_model` with ψ integrated out (the `ssl_group` prior: the same p(z^1..z^J), lower-variance
    gradients, no ψ in the guide)."""
    n, j = views.shape[:2]
    with pyro.plate("images", n, dim=-2):
        content = pyro.sample("content", dist.Normal(views.new_zeros(latent_dim), gamma).to_event(1))   # (N, 1, L)
        with pyro.plate("views", j, dim=-1):
            z = pyro.sample("z", dist.Normal(content, sigma).to_event(1))                              # (N, J, L)
            pyro.sample("x", likelihood(decoder(z)), obs=views)
    return z


@MODELS.register("ssl", summary="y -> z^j -> x^j with J views per image (SimVAE; VAE and β-VAE as special cases)")
class SSLModel(ModelProgram):
    """Holds the model's learnable pieces; `forward` is the generative story above."""

    @classmethod
    def build(cls, options: None, context: BuildContext) -> "SSLModel":
        return cls(context.decoder, context.prior, context.likelihood)

    def __init__(self, decoder: nn.Module, prior: nn.Module, likelihood: nn.Module):
        super().__init__()
        self.decoder, self.prior, self.likelihood = decoder, prior, likelihood

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        return ssl_model(views, self.decoder, self.prior, self.likelihood)

    # What users do with the generative story besides fitting it (every model program offers these two):
    @torch.no_grad()
    def decode_codes(self, z: torch.Tensor) -> torch.Tensor:
        """Mean image E[x | z] for codes (..., L)."""
        return self.likelihood.mean(self.decoder(z))

    @torch.no_grad()
    def sample_codes(self, n: int, views: int = 1) -> torch.Tensor:
        """Codes of n images with `views` views each from the prior: (n, views, L)."""
        return self.prior(views).sample((n,))


def require_the_vaes_settings(config, program: str, story: str, preset: str) -> None:
    """A program that is the VAE's story fitted with one more objective term (β-TC-VAE, FactorVAE) needs the VAE's
    settings: one view, the N(0, I) prior, the mean-field guide and the ELBO with one particle."""
    if config.model.views != 1 or config.model.prior.kind != "standard_normal" or config.guide.kind != "mean_field" \
            or config.objective.kind != "elbo" or config.objective.options.particles != 1:
        raise ConfigError(f"model.program = '{program}' is {story}: it needs model.views = 1, model.prior.kind = "
                          f"'standard_normal', guide.kind = 'mean_field' and the elbo objective with one particle; use "
                          f"--model {preset}")
