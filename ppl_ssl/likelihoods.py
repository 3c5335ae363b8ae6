"""Observation models p(x | z): a decoder's raw output -> a Pyro distribution over an image (event dims C, H, W).

The likelihood owns the link from the decoder's unconstrained output to the distribution's parameters, so
one decoder serves every likelihood. Chosen by `model.likelihood.kind`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pyro.distributions as dist
import torch
from torch import nn

from ppl_ssl.config import option
from ppl_ssl.registry import LIKELIHOODS


@dataclass
class GaussianOptions:
    variance: float = option(0.02, lambda v: v > 0, "positive")  # fixed pixel variance (TMLR paper: 0.02)


@LIKELIHOODS.register("gaussian", GaussianOptions, summary="N(x; sigmoid(decoder(z)), variance I), fixed variance")
class GaussianLikelihood(nn.Module):
    binary_data = False
    discrete = False  # a density on the real line: bits/dim integrates it over each 8-bit bin

    def __init__(self, options: GaussianOptions):
        super().__init__()
        self.register_buffer("scale", torch.tensor(math.sqrt(options.variance)))

    def forward(self, raw: torch.Tensor) -> dist.TorchDistribution:
        return dist.Normal(self.mean(raw), self.scale).to_event(3)

    def mean(self, raw: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(raw)


@LIKELIHOODS.register("bernoulli", summary="Bernoulli(x; logits=decoder(z)), for binarised images")
class BernoulliLikelihood(nn.Module):
    binary_data = True
    discrete = True  # probabilities of the pixel values themselves

    def __init__(self, options: None = None):
        super().__init__()

    def forward(self, raw: torch.Tensor) -> dist.TorchDistribution:
        return dist.Bernoulli(logits=raw).to_event(3)

    def mean(self, raw: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(raw)


def build_likelihood(component) -> nn.Module:
    return LIKELIHOODS[component.kind].build(component.options)
