"""Observation models p(x | z): a decoder's raw output -> a Pyro distribution over an image (event dims C, H, W).

The likelihood owns the link from the decoder's unconstrained output to the distribution's parameters, so
one decoder serves every likelihood. Chosen by `model.likelihood.kind`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pyro.distributions as dist
import torch

from ppl_ssl.contracts import BuildContext, Likelihood
from ppl_ssl.distributions import DiscretizedLogisticMixture, IsotropicNormal
from ppl_ssl.options import at_least, negative, option, positive
from ppl_ssl.registry import LIKELIHOODS

# Every likelihood maps a decoder's raw output (..., P, H, W) to a distribution over images (..., C, H, W) and its
# mean image (`ppl_ssl.contracts.Likelihood`).


@dataclass
class GaussianOptions:
    variance: float = option(0.02, positive())  # fixed pixel variance (TMLR paper: 0.02)


@LIKELIHOODS.register("gaussian", GaussianOptions, summary="N(x; sigmoid(decoder(z)), variance I), fixed variance")
class GaussianLikelihood(Likelihood):
    discrete = False  # a density on the real line: bits/dim integrates it over each 8-bit bin

    def __init__(self, options: GaussianOptions, context: BuildContext | None = None):
        super().__init__()
        self.variance = options.variance  # a Python number: reading a tensor back would wait for the device
        self.register_buffer("scale", torch.tensor(math.sqrt(options.variance)))  # kept: earlier checkpoints hold it

    def forward(self, raw: torch.Tensor) -> dist.TorchDistribution:
        return IsotropicNormal(self.mean(raw), self.variance, event_dims=3)  # = Normal(mean, σ).to_event(3), faster

    def mean(self, raw: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(raw)


@LIKELIHOODS.register("bernoulli", summary="Bernoulli(x; logits=decoder(z)), for binarised images")
class BernoulliLikelihood(Likelihood):
    binary_data = True
    discrete = True  # probabilities of the pixel values themselves

    def __init__(self, options: None = None, context: BuildContext | None = None):
        super().__init__()

    def forward(self, raw: torch.Tensor) -> dist.TorchDistribution:
        return dist.Bernoulli(logits=raw).to_event(3)

    def mean(self, raw: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(raw)


@dataclass
class LogisticMixtureOptions:
    components: int = option(10, at_least(1))          # srVAE / selfVAE: 10
    min_log_scale: float = option(-7.0, negative())      # log-scales clamped here (srVAE: −7)


@LIKELIHOODS.register("logistic_mixture", LogisticMixtureOptions,
                      summary="discretised logistic mixture over 8-bit pixels (PixelCNN++; selfVAE), grey or RGB")
class LogisticMixtureLikelihood(Likelihood):
    """Per pixel K mixture logits, K means and log-scales per channel (and K·3 channel couplings for RGB)."""

    discrete = True  # probabilities of the 256 pixel values

    def __init__(self, options: LogisticMixtureOptions, context: BuildContext | None = None):
        super().__init__()
        self.components, self.min_log_scale = options.components, options.min_log_scale

    def raw_channels(self, image_channels: int) -> int:
        return self.components * (1 + 2 * image_channels + (3 if image_channels == 3 else 0))

    def forward(self, raw: torch.Tensor) -> DiscretizedLogisticMixture:
        k = self.components
        # P = k(1 + 2C) maps for C channels, or k(1 + 2·3 + 3) with the RGB couplings
        channels = 3 if raw.shape[-3] == self.raw_channels(3) else (raw.shape[-3] // k - 1) // 2
        lead, (h, w) = raw.shape[:-3], raw.shape[-2:]
        logits, loc, log_scale, coeffs = raw.split([k, k * channels, k * channels, raw.shape[-3] - k * (1 + 2 * channels)], dim=-3)
        per_component = lambda t: t.reshape(*lead, k, -1, h, w)  # noqa: E731
        return DiscretizedLogisticMixture(logits, 0.5 + per_component(loc), per_component(log_scale),
                                          per_component(coeffs) if channels == 3 else None, self.min_log_scale)

    def mean(self, raw: torch.Tensor) -> torch.Tensor:
        return self(raw).mean
