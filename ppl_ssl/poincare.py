"""The Poincaré ball B^L_c = {z ∈ R^L : c‖z‖² < 1} of curvature −c and its wrapped normal distribution, for the
Poincaré VAE (Mathieu, Le Lan, Maddison, Tomioka & Teh 2019, "Continuous Hierarchical Representations with
Poincaré Variational Auto-Encoders"; Pythae's PoincareVAE).

The ball's metric is λ_z² times the Euclidean one, λ_z = 2 / (1 − c‖z‖²). With Möbius addition ⊕ (Ungar):

    exp_x(u)  = x ⊕ tanh(√c λ_x ‖u‖ / 2) u / (√c ‖u‖)          the point reached from x along u
    log_x(y)  = 2 / (√c λ_x) · artanh(√c ‖−x ⊕ y‖) (−x ⊕ y) / ‖−x ⊕ y‖
    d(x, y)   = 2 / √c · artanh(√c ‖−x ⊕ y‖)                    the geodesic distance
    PT_{0→x}(v) = v / (λ_x / 2) = (1 − c‖x‖²) v                  parallel transport from the origin

The wrapped normal WN(μ, σ²) is N(0, σ²I) in the tangent space at the origin (in the metric's units), carried to μ
by parallel transport and mapped onto the ball by exp_μ. Its density with respect to the ball's Riemannian volume
(dvol = λ_z^L dz) is

    log WN(z; μ, σ) = log N(u; 0, σ²I) − (L − 1) log( sinh(√c d(μ, z)) / (√c d(μ, z)) ),
    u = λ_0 · PT_{μ→0}(log_μ z),

as in Mathieu et al.'s code, which Pythae copies. Priors and posteriors on the ball are both densities with
respect to that volume, so their ratios (the ELBO's, importance weights) are those of densities on the ball.
"""
from __future__ import annotations

import math

import torch
from pyro.distributions import TorchDistribution, constraints

MIN_NORM = 1e-15
BOUNDARY = 1e-5  # how close to the boundary (relative) a point is projected back, as geoopt does in float32


class _PoincareBall(constraints.Constraint):
    """Points of the open ball of radius 1/√c (checked for any c in the sense of ‖z‖ < ∞: the curvature is the
    distribution's)."""
    event_dim = 1

    def check(self, value: torch.Tensor) -> torch.Tensor:
        return torch.isfinite(value).all(-1)

    def __repr__(self) -> str:
        return "PoincareBall()"


poincare_ball = _PoincareBall()


def conformal_factor(x: torch.Tensor, c: float) -> torch.Tensor:
    """λ_x = 2 / (1 − c‖x‖²), (..., 1)."""
    return 2 / (1 - c * x.pow(2).sum(-1, keepdim=True)).clamp(min=MIN_NORM)


def project(x: torch.Tensor, c: float) -> torch.Tensor:
    """x pulled back inside the ball where rounding put it on or past the boundary."""
    norm = x.norm(dim=-1, keepdim=True).clamp(min=MIN_NORM)
    largest = (1 - BOUNDARY) / math.sqrt(c)
    return torch.where(norm > largest, x / norm * largest, x)


def mobius_add(x: torch.Tensor, y: torch.Tensor, c: float) -> torch.Tensor:
    xy = (x * y).sum(-1, keepdim=True)
    x2, y2 = x.pow(2).sum(-1, keepdim=True), y.pow(2).sum(-1, keepdim=True)
    numerator = (1 + 2 * c * xy + c * y2) * x + (1 - c * x2) * y
    return numerator / (1 + 2 * c * xy + c ** 2 * x2 * y2).clamp(min=MIN_NORM)


def expmap(x: torch.Tensor, u: torch.Tensor, c: float) -> torch.Tensor:
    sqrt_c = math.sqrt(c)
    norm = u.norm(dim=-1, keepdim=True).clamp(min=MIN_NORM)
    step = torch.tanh(sqrt_c * conformal_factor(x, c) * norm / 2) * u / (sqrt_c * norm)
    return project(mobius_add(x, step, c), c)


def expmap0(u: torch.Tensor, c: float) -> torch.Tensor:
    """exp_0(u) = tanh(√c‖u‖) u / (√c‖u‖): the tangent space at the origin onto the ball."""
    sqrt_c = math.sqrt(c)
    norm = u.norm(dim=-1, keepdim=True).clamp(min=MIN_NORM)
    return project(torch.tanh(sqrt_c * norm) * u / (sqrt_c * norm), c)


def logmap(x: torch.Tensor, y: torch.Tensor, c: float) -> torch.Tensor:
    sqrt_c = math.sqrt(c)
    w = mobius_add(-x, y, c)
    norm = w.norm(dim=-1, keepdim=True).clamp(min=MIN_NORM)
    return 2 / (sqrt_c * conformal_factor(x, c)) * torch.atanh((sqrt_c * norm).clamp(max=1 - 1e-7)) * w / norm


def distance(x: torch.Tensor, y: torch.Tensor, c: float) -> torch.Tensor:
    """d(x, y), (...,)."""
    sqrt_c = math.sqrt(c)
    norm = mobius_add(-x, y, c).norm(dim=-1)
    return 2 / sqrt_c * torch.atanh((sqrt_c * norm).clamp(max=1 - 1e-7))


class WrappedNormal(TorchDistribution):
    """WN(μ, σ²) on the Poincaré ball of curvature −c: loc (..., L) inside the ball, scale (..., L) or broadcastable;
    event (L,). Densities are with respect to the ball's Riemannian volume."""

    arg_constraints = {"loc": constraints.real_vector, "scale": constraints.positive}
    support = poincare_ball
    has_rsample = True

    def __init__(self, loc: torch.Tensor, scale: torch.Tensor, curvature: float = 1.0, validate_args=None):
        self.loc, self.scale = torch.broadcast_tensors(loc, scale)
        self.curvature = float(curvature)
        super().__init__(self.loc.shape[:-1], self.loc.shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        shape = torch.Size(batch_shape) + self.event_shape
        return WrappedNormal(self.loc.expand(shape), self.scale.expand(shape), self.curvature)

    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:
        c = self.curvature
        shape = self._extended_shape(sample_shape)
        v = self.scale * torch.randn(shape, dtype=self.loc.dtype, device=self.loc.device)  # in the metric's units at 0
        u = v / 2 / (conformal_factor(self.loc, c) / 2)  # v / λ_0, then PT_{0→μ}: × λ_0 / λ_μ
        return expmap(self.loc.expand(shape), u, c)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        c, dim = self.curvature, self.loc.shape[-1]
        loc, value = torch.broadcast_tensors(self.loc, value)
        u = logmap(loc, value, c) * conformal_factor(loc, c)  # PT_{μ→0} (× λ_μ / λ_0), then × λ_0
        normal = torch.distributions.Normal(0.0, self.scale).log_prob(u).sum(-1)
        d = distance(loc, value, c).clamp(min=MIN_NORM)
        sqrt_c = math.sqrt(c)
        log_det = (dim - 1) * torch.log(torch.sinh(sqrt_c * d) / (sqrt_c * d))
        return normal - log_det
