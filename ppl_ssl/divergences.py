"""Sample-based estimators that regularised VAEs add to the ELBO as factors.

- `mmd`: the squared maximum mean discrepancy between two samples under a kernel, the Gaussian (`rbf_kernel`) or
  the inverse multiquadratic (`imq_kernel`): InfoVAE's and WAE's divergence between the aggregate posterior q(z)
  and the prior p(z) (Zhao et al. 2019; Tolstikhin et al. 2018).
- `MutualInformationCritic`: the Donsker–Varadhan lower bound on I(x; z) with a learned critic T(x, z)
  (MINE, Belghazi et al. 2018), as InfoMax-VAE maximises it (Rezaabad & Vishwanath 2020): samples of the joint are
  the batch's (x, z) pairs, samples of the product of marginals the same codes shuffled across the batch.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def rbf_kernel(bandwidth: float):
    """k(a, b) = exp(−‖a − b‖² / (2 bandwidth²)), the Gaussian kernel."""
    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.exp(-torch.cdist(a, b).pow(2) / (2 * bandwidth ** 2))
    return kernel


def imq_kernel(scale: float, multipliers: tuple[float, ...] = (1.0,)):
    """k(a, b) = Σ_s C_s / (C_s + ‖a − b‖²) with C_s = s · scale, the inverse multiquadratic kernel (WAE's, Tolstikhin
    et al.; summed over several scales s as Pythae's WAE does, whose scale is 2 · L · bandwidth²)."""
    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        squared = torch.cdist(a, b).pow(2)
        return sum(c / (c + squared) for c in (s * scale for s in multipliers))
    return kernel


def pythae_kernel(kind: str, latent_dim: int, bandwidth: float, scales: tuple[float, ...] | list[float] = (1.0,)):
    """Pythae's kernels for WAE and InfoVAE, C = 2·L·bandwidth²: `rbf` exp(−‖a − b‖²/C), `imq` Σ_s sC/(sC + ‖a − b‖²)."""
    scale = 2 * latent_dim * bandwidth ** 2
    if kind == "rbf":
        return rbf_kernel(math.sqrt(scale / 2))  # exp(−‖a − b‖²/(2h²)) with 2h² = C
    return imq_kernel(scale, tuple(scales))


def mmd(x: torch.Tensor, y: torch.Tensor, kernel) -> torch.Tensor:
    """Unbiased estimate of MMD²(P, Q) from x ~ P (n, D) and y ~ Q (m, D) under `kernel` (a function of two sets
    of points returning their kernel matrix): the within-sample means leave out the diagonal k(a, a)."""
    n, m = len(x), len(y)
    kxx, kyy = kernel(x, x), kernel(y, y)
    within_x = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    within_y = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return within_x + within_y - 2 * kernel(x, y).mean()


def mmd_rbf(x: torch.Tensor, y: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """`mmd` under the Gaussian kernel of this bandwidth."""
    return mmd(x, y, rbf_kernel(bandwidth))


class MutualInformationCritic(nn.Module):
    """T(x, z): an MLP on the flattened input and the code; `forward` is the DV bound on I(x; z) in nats."""

    def __init__(self, input_dim: int, code_dim: int, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(input_dim + code_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 1))

    def score(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x.flatten(1), z], dim=-1)).squeeze(-1)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """E_joint[T] − log E_marginals[e^T] over the batch (x (N, ...), z (N, L)); z rolled by one row stands in for
        a draw from q(z) independent of x (a derangement, so no pair is its own)."""
        joint = self.score(x, z).mean()
        marginal = self.score(x, z.roll(1, dims=0))
        return joint - (torch.logsumexp(marginal, 0) - math.log(len(marginal)))
