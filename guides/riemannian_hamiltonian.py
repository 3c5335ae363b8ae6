"""The Riemannian Hamiltonian VAE's guide (Chadebec, Mantoux & Allassonnière 2020; Pythae's RHVAE): the mean-field
Gaussian's draw moved by K steps of tempered Riemannian Hamiltonian dynamics on the model's (`model.program =
rhvae`) Hamiltonian H(z, ρ) = −log p(x, z) + ½ log((2π)^L |G(z)|) + ½ ρᵀ G⁻¹(z) ρ.

    z_0 ~ N(μ_φ(x), σ_φ(x)²),  ρ_0 ~ N(0, G(z_0)/β_0)
    for k = 1..K:   ρ' = ρ − ε/2 ∂H/∂z(z, ρ')                        (implicit in ρ')
                    z' = z + ε/2 [∂H/∂ρ(z, ρ') + ∂H/∂ρ(z', ρ')]       (implicit in z'; ∂H/∂ρ = G⁻¹(z) ρ)
                    ρ'' = ρ' − ε/2 ∂H/∂z(z', ρ')                       (the generalised leapfrog)
                    ρ ← √(β_{k−1}/β_k) ρ''                             (tempering, as the HVAE's)

Each implicit equation is solved by `fixed_point_steps` fixed-point iterations (Pythae: 3). The generalised leapfrog
is symplectic, so it preserves volume where its equations are solved, and the density of the draws is

    log q_K(z_K, ρ_K | x) = log N(z_0; μ, σ²) + log N(ρ_0; 0, G(z_0)/β_0) − (J·L/2) log β_0,

the ELBO E[log p(x, z_K) + log N(ρ_K; 0, G(z_K)) − log q_K] (the model's score against this density). As for the
HVAE, gradients flow through the dynamics and the density is known at the guide's own draws only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pyro
import torch
from torch import nn

from ppl_ssl.errors import ConfigError
from ppl_ssl.guides.hamiltonian import HamiltonianFlow, HamiltonianGuide, HamiltonianOptions, tempering_schedule
from ppl_ssl.guides.mean_field import amortised_normal
from ppl_ssl.riemannian import riemannian_momentum, riemannian_momentum_log_prob
from ppl_ssl.options import at_least, option
from ppl_ssl.registry import GUIDES


class RiemannianHamiltonianFlow(HamiltonianFlow):
    """q_K(z_K, ρ_K | x) under the model's Riemannian Hamiltonian, with the metric of `anchors`."""

    def __init__(self, start, model, views: torch.Tensor, anchors, steps: int, step_size: float, beta_zero: float,
                 fixed_point_steps: int, validate_args=None):
        self.model, self.anchors, self.fixed_point_steps = model, anchors, fixed_point_steps
        super().__init__(start, None, views, steps, step_size, beta_zero, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return RiemannianHamiltonianFlow(self.start.expand(batch_shape), self.model, self.views, self.anchors,
                                         self.steps, self.step_size, self.beta_zero, self.fixed_point_steps)

    def initial_momentum(self, z0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ρ_0 ~ N(0, G(z_0)/β_0) and its log-density: log N(√β_0 ρ_0; 0, G) + (J·L/2) log β_0."""
        inverse_metric = self.model.metric.inverse(z0, self.anchors)
        rho0 = riemannian_momentum(inverse_metric) / math.sqrt(self.beta_zero)
        dims = z0.shape[-2] * z0.shape[-1]
        log_density = (riemannian_momentum_log_prob(math.sqrt(self.beta_zero) * rho0, inverse_metric)
                       + dims / 2 * math.log(self.beta_zero))
        return rho0, log_density

    def move(self, z: torch.Tensor, rho: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """K generalised leapfrog steps on the model's Hamiltonian, each followed by its tempering step."""
        eps, schedule, model = self.step_size, tempering_schedule(self.steps, self.beta_zero), self.model
        force = lambda z_, rho_: model.hamiltonian_gradient_z(self.views, z_, rho_, self.anchors)  # noqa: E731
        for k in range(1, self.steps + 1):
            half = rho
            for _ in range(self.fixed_point_steps):
                half = rho - eps / 2 * force(z, half)
            start_velocity, moved = model.velocity(z, half, self.anchors), z
            for _ in range(self.fixed_point_steps):
                moved = z + eps / 2 * (start_velocity + model.velocity(moved, half, self.anchors))
            z = moved
            rho = (half - eps / 2 * force(z, half)) * (schedule[k - 1] / schedule[k])
        return z, rho


@dataclass
class RiemannianHamiltonianOptions(HamiltonianOptions):
    fixed_point_steps: int = option(3, at_least(1, "fixed-point iterations of each implicit leapfrog equation (Pythae's 3)"))


def riemannian_hamiltonian_posterior(views: torch.Tensor, encoder: nn.Module, model,
                                     options: RiemannianHamiltonianOptions) -> RiemannianHamiltonianFlow:
    return RiemannianHamiltonianFlow(amortised_normal(views, encoder), model, views, model.anchors(views, store=False),
                                     options.steps, options.step_size, options.beta_zero, options.fixed_point_steps)


def riemannian_hamiltonian_guide(views: torch.Tensor, encoder: nn.Module, model, options: RiemannianHamiltonianOptions):
    with pyro.plate("images", len(views)):
        return pyro.sample("z", riemannian_hamiltonian_posterior(views, encoder, model, options))


@GUIDES.register("riemannian_hamiltonian", RiemannianHamiltonianOptions,
                 summary="the Gaussian's draw moved by K tempered generalised leapfrog steps with a learnt metric (RHVAE)")
class RiemannianHamiltonianGuide(HamiltonianGuide):
    @classmethod
    def check_config(cls, config) -> None:
        if config.model.program.kind != "rhvae":
            raise ConfigError("guide.kind = 'riemannian_hamiltonian' moves positions and Riemannian momenta, which only "
                              "the rhvae model program scores: set model.program = 'rhvae' (or use --model rhvae)")

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        return riemannian_hamiltonian_guide(views, self.encoder, self.model, self.options)

    def posterior(self, views: torch.Tensor) -> RiemannianHamiltonianFlow:
        return riemannian_hamiltonian_posterior(views, self.encoder, self.model, self.options)
