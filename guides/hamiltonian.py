"""The Hamiltonian VAE's guide (Caterini, Doucet & Sejdinovic 2018; Pythae's HVAE): the mean-field Gaussian's draw
moved by K steps of tempered Hamiltonian dynamics toward the posterior of the model (`model.program = hvae`).

    z_0 ~ N(μ_φ(x), σ_φ(x)²),  ρ_0 ~ N(0, I/β_0)
    for k = 1..K:  ρ ← ρ + ε/2 ∇ log p(x, z);  z ← z + ε ρ;  ρ ← ρ + ε/2 ∇ log p(x, z)      (leapfrog)
                   ρ ← √(β_{k−1}/β_k) ρ                                                  (tempering)

with √β_k = 1 / ((1 − 1/√β_0)(k/K)² + 1/√β_0), Caterini et al.'s quadratic schedule, so β_K = 1. Leapfrog steps
preserve volume and each tempering step scales the J·L momenta by √(β_{k−1}/β_k), so the density of (z_K, ρ_K) is

    log q_K(z_K, ρ_K | x) = log N(z_0; μ, σ²) + log N(ρ_0; 0, I/β_0) − (J·L/2) log β_0,

and the ELBO E[log p(x, z_K) + log N(ρ_K; 0, I) − log q_K] is the model's (`models/hvae.py`) against this density.
Gradients flow through the dynamics (∇ log p(x, z) is itself differentiated), as Caterini et al. define it. The
density is kept for the guide's own draws (what the ELBO and importance weighting need); at other codes it would
take the dynamics run backwards, which is not implemented, so AIS from the guide and the mutual information are
refused as for flows without an inverse. The representation is the encoder's mean μ_φ(x).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import TorchDistribution, constraints
from torch import nn

from ppl_ssl.contracts import BuildContext
from ppl_ssl.errors import ConfigError
from ppl_ssl.guides.mean_field import AmortisedGuide, amortised_normal
from ppl_ssl.options import at_least, between, option, positive
from ppl_ssl.registry import GUIDES


def tempering_schedule(steps: int, beta_zero: float) -> list[float]:
    """√β_k for k = 0..K (Caterini et al.'s quadratic schedule): √β_0 first, 1 last."""
    inverse = 1 / math.sqrt(beta_zero)
    return [1 / ((1 - inverse) * (k / steps) ** 2 + inverse) for k in range(steps + 1)]


class HamiltonianFlow(TorchDistribution):
    """q_K(z_K, ρ_K | x): (z, ρ) concatenated, event (J, 2L), batch that of `start` (N(μ, σ²), event (J, L))."""

    arg_constraints = {}
    support = constraints.independent(constraints.real, 2)
    has_rsample = True

    def __init__(self, start: dist.TorchDistribution, potential_gradient, views: torch.Tensor, steps: int,
                 step_size: float, beta_zero: float, validate_args=None):
        self.start, self.potential_gradient, self.views = start, potential_gradient, views
        self.steps, self.step_size, self.beta_zero = steps, step_size, beta_zero
        event = start.event_shape[:-1] + (2 * start.event_shape[-1],)
        self._drawn: list[tuple[torch.Tensor, torch.Tensor]] = []  # (draw, its log-density): the draws' own
        super().__init__(start.batch_shape, event, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return HamiltonianFlow(self.start.expand(batch_shape), self.potential_gradient, self.views, self.steps,
                               self.step_size, self.beta_zero)

    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:
        z0 = self.start.rsample(sample_shape)
        rho0, log_momentum = self.initial_momentum(z0)
        z, rho = self.move(z0, rho0)
        value = torch.cat([z, rho], -1)
        dims = z0.shape[-2] * z0.shape[-1]
        log_q = self.start.log_prob(z0) + log_momentum - dims / 2 * math.log(self.beta_zero)
        self._drawn.append((value, log_q))
        return value

    def initial_momentum(self, z0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ρ_0 ~ N(0, I/β_0) and its log-density, summed over (J, L)."""
        rho0 = torch.randn_like(z0) / math.sqrt(self.beta_zero)
        momentum = torch.distributions.Normal(0.0, 1 / math.sqrt(self.beta_zero)).log_prob(rho0)
        return rho0, momentum.flatten(-2).sum(-1)

    def move(self, z: torch.Tensor, rho: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """K leapfrog steps on the potential −log p(x, z), each followed by its tempering step."""
        eps, schedule = self.step_size, tempering_schedule(self.steps, self.beta_zero)
        for k in range(1, self.steps + 1):
            rho = rho + eps / 2 * self.potential_gradient(self.views, z)
            z = z + eps * rho
            rho = rho + eps / 2 * self.potential_gradient(self.views, z)
            rho = rho * (schedule[k - 1] / schedule[k])
        return z, rho

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        for drawn, log_q in self._drawn:
            if value is drawn:
                return log_q
        raise NotImplementedError("the Hamiltonian guide's density is known at its own draws only (the dynamics are "
                                  "not run backwards)")


@dataclass
class HamiltonianOptions:
    steps: int = option(3, at_least(1, "leapfrog steps K (Pythae's n_lf)"))
    step_size: float = option(1e-3, positive("leapfrog step ε (Pythae's eps_lf)"))
    beta_zero: float = option(0.3, between(0, 1, low_open=True, note="initial inverse temperature β_0 (Pythae's)"))


def hamiltonian_posterior(views: torch.Tensor, encoder: nn.Module, model, options: HamiltonianOptions) -> HamiltonianFlow:
    return HamiltonianFlow(amortised_normal(views, encoder), model.potential_gradient, views, options.steps,
                           options.step_size, options.beta_zero)


def hamiltonian_guide(views: torch.Tensor, encoder: nn.Module, model, options: HamiltonianOptions):
    with pyro.plate("images", len(views)):
        return pyro.sample("z", hamiltonian_posterior(views, encoder, model, options))


@GUIDES.register("hamiltonian", HamiltonianOptions,
                 summary="the Gaussian's draw moved by K tempered leapfrog steps on log p(x, z) (HVAE)")
class HamiltonianGuide(AmortisedGuide):
    has_density = True

    @classmethod
    def build(cls, options: HamiltonianOptions, context: BuildContext) -> "HamiltonianGuide":
        guide = cls(context.encoder)
        guide.options = options
        # the model scores the dynamics' potential; kept outside the module tree, whose parameters are the model's
        object.__setattr__(guide, "model", context.model)
        return guide

    @classmethod
    def check_config(cls, config) -> None:
        if config.model.program.kind != "hvae":
            raise ConfigError("guide.kind = 'hamiltonian' moves positions and momenta, which only the hvae model "
                              "program scores: set model.program = 'hvae' (or use --model hvae)")

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        return hamiltonian_guide(views, self.encoder, self.model, self.options)

    def posterior(self, views: torch.Tensor) -> dist.TorchDistribution:
        return hamiltonian_posterior(views, self.encoder, self.model, self.options)
