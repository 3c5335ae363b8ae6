"""MSSSIM-VAE (Snell et al. 2017, "Learning to generate images with perceptual similarity metrics", as Pythae
benchmarks it): the VAE's story with its reconstruction term replaced by the images' structural similarity.

    z ~ p(z)                                      the prior (the VAE's N(0, I))
    x̂ = E[x | z] = sigmoid(D_θ(z))                 the decoded mean
    objective: Σ_n −(1 − MS-SSIM(x_n, x̂_n)) − β·KL(q(z | x_n) ‖ p(z))

MS-SSIM (`ppl_ssl.similarity`) is not a log-density of x: the program observes no x, so it has no log p(x) and the
likelihood estimators refuse it; the KL is the ELBO's, weighted by `objective.beta` as in the β-VAE (Pythae's grid
puts β at 1e-2 to 1 against an MS-SSIM loss in [0, 1]).
"""
from __future__ import annotations

from dataclasses import dataclass

import pyro
import torch
from torch import nn

from ppl_ssl.contracts import BuildContext
from ppl_ssl.factors import objective_factor
from ppl_ssl.models.ssl import SSLModel, require_the_vaes_settings
from ppl_ssl.options import at_least, option
from ppl_ssl.registry import MODELS
from ppl_ssl.similarity import ms_ssim


def msssim_vae_model(views: torch.Tensor, decoder: nn.Module, prior: nn.Module, likelihood: nn.Module,
                     window_size: int):
    """views (N, J, C, H, W): z from the prior, and the MS-SSIM of each view's decoded mean as the objective."""
    n, j = views.shape[:2]
    with pyro.plate("images", n):
        z = pyro.sample("z", prior(j))
    reconstructions = likelihood.mean(decoder(z))
    objective_factor("ms_ssim", lambda: -(1 - ms_ssim(reconstructions.flatten(0, 1), views.flatten(0, 1),
                                                      window_size)).sum())
    return z


@dataclass
class MSSSIMVAEOptions:
    window_size: int = option(11, at_least(1, "pixels of the SSIM window (Pythae's grid: 3, 5, 11, 15)"))


class MSSSIMVAEModel(SSLModel):
    adds_factors = True
    observes_images = False

    @classmethod
    def build(cls, options: MSSSIMVAEOptions, context: BuildContext) -> "MSSSIMVAEModel":
        model = cls(context.decoder, context.prior, context.likelihood)
        model.options = options
        return model

    @classmethod
    def check_config(cls, config) -> None:
        require_the_vaes_settings(config, "msssim_vae", "the VAE's story with an MS-SSIM reconstruction term",
                                  "msssim-vae")

    def forward(self, views):
        return msssim_vae_model(views, self.decoder, self.prior, self.likelihood, self.options.window_size)


MODELS.register("msssim_vae", MSSSIMVAEOptions,
                summary="z ~ p(z), objective −(1 − MS-SSIM(x, E[x | z])) − β·KL: no likelihood (MSSSIM-VAE)")(MSSSIMVAEModel)
