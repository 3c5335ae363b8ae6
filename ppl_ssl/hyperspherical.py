"""Distributions on the unit hypersphere S^{m−1} ⊂ R^m, for the hyperspherical VAE (Davidson et al. 2018, "Hyperspherical
Variational Auto-Encoders"; Pythae's SVAE):

    von Mises–Fisher  vMF(z; μ, κ) = C_m(κ) exp(κ μᵀz),  C_m(κ) = κ^{m/2−1} / ((2π)^{m/2} I_{m/2−1}(κ))
    uniform           U(z) = 1 / |S^{m−1}|,              |S^{m−1}| = 2π^{m/2} / Γ(m/2)

Both are densities with respect to the sphere's surface measure. A vMF draw is Wood's (1994): w = μᵀz by rejection
from a Beta proposal, an independent uniform direction v ⊥ e₁, z = (w, √(1 − w²) v) rotated from e₁ to μ by a
Householder reflection. The accepted w is a differentiable function of κ and of the proposal's ε (Davidson et al.'s
reparameterisation); their correction term for the acceptance step is left out, as in their code and Pythae's.

The Bessel function I_ν of the normaliser has no torch implementation for ν > 1: its logarithm is computed with
scipy's exponentially scaled `ive` (on the host: a device round trip per evaluation) and its derivative,
d/dκ log I_ν(κ) = I_{ν+1}(κ)/I_ν(κ) + ν/κ, from the same function.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from pyro.distributions import TorchDistribution, constraints
from scipy import special
from torch.distributions import register_kl


class _LogBesselI(torch.autograd.Function):
    """log I_ν(κ) for a fixed order ν ≥ 0 and κ > 0, differentiable in κ."""

    @staticmethod
    def forward(ctx, kappa: torch.Tensor, order: float) -> torch.Tensor:
        k = kappa.detach().cpu().double().numpy()
        value = np.log(special.ive(order, k)) + k  # log I = log ive + κ (ive = I·e^{−κ}, no overflow)
        ratio = special.ive(order + 1, k) / special.ive(order, k)
        ctx.save_for_backward(torch.as_tensor(ratio + order / k, dtype=kappa.dtype, device=kappa.device))
        return torch.as_tensor(value, dtype=kappa.dtype, device=kappa.device)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        derivative, = ctx.saved_tensors
        return grad * derivative, None


def log_bessel_i(order: float, kappa: torch.Tensor) -> torch.Tensor:
    """log I_order(κ), elementwise, differentiable in κ."""
    return _LogBesselI.apply(kappa, float(order))


def log_sphere_area(m: int) -> float:
    """log |S^{m−1}|, the surface area of the unit sphere in R^m."""
    return math.log(2) + m / 2 * math.log(math.pi) - math.lgamma(m / 2)


def mean_resultant_length(m: int, kappa: torch.Tensor) -> torch.Tensor:
    """A_m(κ) = I_{m/2}(κ) / I_{m/2−1}(κ) = E[μᵀz] under vMF(μ, κ)."""
    return torch.exp(log_bessel_i(m / 2, kappa) - log_bessel_i(m / 2 - 1, kappa))


class VonMisesFisher(TorchDistribution):
    """vMF(μ, κ) on S^{m−1}: loc (..., m) of unit norm, concentration (...,) positive; event (m,)."""

    arg_constraints = {"loc": constraints.real_vector, "concentration": constraints.positive}
    support = constraints.sphere
    has_rsample = True

    def __init__(self, loc: torch.Tensor, concentration: torch.Tensor, validate_args: bool | None = None):
        self.loc, self.concentration = loc, concentration
        self.m = loc.shape[-1]
        super().__init__(loc.shape[:-1], loc.shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        return VonMisesFisher(self.loc.expand(batch_shape + (self.m,)), self.concentration.expand(batch_shape))

    def log_normaliser(self) -> torch.Tensor:
        """log C_m(κ)."""
        k, m = self.concentration, self.m
        return (m / 2 - 1) * torch.log(k) - m / 2 * math.log(2 * math.pi) - log_bessel_i(m / 2 - 1, k)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return self.log_normaliser() + self.concentration * (self.loc * value).sum(-1)

    @property
    def mean(self) -> torch.Tensor:
        return mean_resultant_length(self.m, self.concentration).unsqueeze(-1) * self.loc

    def entropy(self) -> torch.Tensor:
        """H = −log C_m(κ) − κ A_m(κ)."""
        return -self.log_normaliser() - self.concentration * mean_resultant_length(self.m, self.concentration)

    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:
        shape = torch.Size(sample_shape) + self.batch_shape
        w = self._sample_w(shape)                                                   # (..., 1): μᵀz
        v = torch.randn(shape + (self.m - 1,), dtype=self.loc.dtype, device=self.loc.device)
        v = v / v.norm(dim=-1, keepdim=True)                                        # uniform on S^{m−2}
        e1_frame = torch.cat([w, torch.sqrt((1 - w.pow(2)).clamp(min=1e-12)) * v], -1)
        return self._householder(e1_frame)

    def _sample_w(self, shape: torch.Size) -> torch.Tensor:
        """Wood's rejection sampler for w = μᵀz (every draw accepted within 100 rounds, far more than needed)."""
        m = self.m
        k = self.concentration.expand(shape).unsqueeze(-1)
        c = torch.sqrt(4 * k.pow(2) + (m - 1) ** 2)
        b = (c - 2 * k) / (m - 1)
        a = (m - 1 + 2 * k + c) / 4
        d = 4 * a * b / (1 + b) - (m - 1) * math.log(m - 1)
        beta = torch.distributions.Beta(torch.tensor((m - 1) / 2, dtype=k.dtype, device=k.device),
                                        torch.tensor((m - 1) / 2, dtype=k.dtype, device=k.device))
        w = torch.zeros_like(k)
        pending = torch.ones_like(k, dtype=torch.bool)
        for _ in range(100):
            eps = beta.sample(k.shape)
            proposal = (1 - (1 + b) * eps) / (1 - (1 - b) * eps)
            t = 2 * a * b / (1 - (1 - b) * eps)
            accept = ((m - 1) * torch.log(t) - t + d) > torch.log(torch.rand_like(k))
            take = accept & pending
            w = torch.where(take, proposal, w)
            pending = pending & ~accept
            if not bool(pending.any()):
                break
        return w

    def _householder(self, z: torch.Tensor) -> torch.Tensor:
        """Reflect draws made around e₁ to draws around μ: H = I − 2uuᵀ with u = (e₁ − μ)/‖e₁ − μ‖."""
        e1 = torch.zeros_like(self.loc)
        e1[..., 0] = 1
        u = e1 - self.loc
        u = u / u.norm(dim=-1, keepdim=True).clamp(min=1e-12)
        return z - 2 * u * (u * z).sum(-1, keepdim=True)


class HypersphericalUniform(TorchDistribution):
    """The uniform distribution on S^{m−1} (batch from `expand`), event (m,)."""

    arg_constraints = {}
    support = constraints.sphere
    has_rsample = True

    def __init__(self, m: int, batch_shape=torch.Size(), device=None, dtype=torch.float32, validate_args=None):
        self.m, self._device, self._dtype = m, device, dtype
        super().__init__(torch.Size(batch_shape), torch.Size((m,)), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return HypersphericalUniform(self.m, batch_shape, self._device, self._dtype)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return value.new_full(value.shape[:-1], -log_sphere_area(self.m))

    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:
        x = torch.randn(torch.Size(sample_shape) + self.batch_shape + self.event_shape, device=self._device,
                        dtype=self._dtype)
        return x / x.norm(dim=-1, keepdim=True)

    def entropy(self) -> torch.Tensor:
        return torch.full(self.batch_shape, log_sphere_area(self.m), device=self._device, dtype=self._dtype)


@register_kl(VonMisesFisher, HypersphericalUniform)
def _kl_vmf_uniform(q: VonMisesFisher, p: HypersphericalUniform) -> torch.Tensor:
    """KL(vMF(μ, κ) ‖ U(S^{m−1})) = −H(vMF) + log |S^{m−1}|."""
    return -q.entropy() + log_sphere_area(q.m)
