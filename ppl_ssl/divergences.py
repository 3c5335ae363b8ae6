"""Sample-based estimators that regularised VAEs add to the ELBO as factors.

- `mmd_rbf`: the squared maximum mean discrepancy between two samples under a Gaussian kernel (InfoVAE's
  divergence between the aggregate posterior q(z) and the prior p(z); Zhao et al. 2019).
- `MutualInformationCritic`: the Donsker–Varadhan lower bound on I(x; z) with a learned critic T(x, z)
  (MINE, Belghazi et al. 2018), as InfoMax-VAE maximises it (Rezaabad & Vishwanath 2020): samples of the joint are
  the batch's (x, z) pairs, samples of the product of marginals the same codes shuffled across the batch.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def mmd_rbf(x: torch.Tensor, y: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """Unbiased estimate of MMD²(P, Q) from x ~ P (n, D) and y ~ Q (m, D), kernel exp(−‖a − b‖² / (2 bandwidth²))."""
    def kernel(a, b):
        return torch.exp(-torch.cdist(a, b).pow(2) / (2 * bandwidth ** 2))

    n, m = len(x), len(y)
    within_x = (kernel(x, x).sum() - n) / (n * (n - 1))   # the diagonal k(a, a) = 1 left out: unbiased
    within_y = (kernel(y, y).sum() - m) / (m * (m - 1))
    return within_x + within_y - 2 * kernel(x, y).mean()


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
