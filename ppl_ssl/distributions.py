"""Distributions the models need that Pyro does not ship."""
from __future__ import annotations

import math

import torch
from pyro.distributions import TorchDistribution, constraints


class ExchangeableGaussian(TorchDistribution):
    r"""The SSL model's prior over the J views of one image, with the content integrated out.

    ψ ~ N(0, γ² I_L) and z^j | ψ ~ N(ψ, σ² I_L) for j = 1..J give, with ψ integrated out analytically
    (SimVAE TMLR paper, Appendix A.4), a Gaussian over (z^1..z^J) that is exchangeable across views:
    per latent dimension, covariance σ² I_J + γ² 1 1ᵀ. With S = Σ_j z^j and Q = Σ_j (z^j)², per dimension

        log p = -½ [ (Q - S² / (J + σ²/γ²)) / σ² + J log(2π σ²) + log(1 + J γ²/σ²) ],

    O(J) to evaluate and to sample (z^j = γ ε₀ + σ ε_j). As γ → ∞ the quadratic form tends to the paper's
    "pinch" term Σ_j ‖z^j - z̄‖² / σ² (eq. 6), and the normaliser diverges — the paper's uniform p(ψ) is improper.

    Event shape (J, L); batch shape from `expand` (one set of views per image).
    """

    arg_constraints = {"sigma": constraints.positive, "gamma": constraints.positive}
    support = constraints.independent(constraints.real, 2)
    has_rsample = True

    def __init__(self, views: int, latent_dim: int, sigma: float | torch.Tensor, gamma: float | torch.Tensor,
                 batch_shape: torch.Size = torch.Size(), validate_args: bool | None = None):
        self.views, self.latent_dim = int(views), int(latent_dim)
        self.sigma = torch.as_tensor(sigma, dtype=torch.get_default_dtype())
        self.gamma = torch.as_tensor(gamma, dtype=torch.get_default_dtype(), device=self.sigma.device)
        super().__init__(torch.Size(batch_shape), torch.Size((self.views, self.latent_dim)), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return ExchangeableGaussian(self.views, self.latent_dim, self.sigma, self.gamma, torch.Size(batch_shape))

    @property
    def mean(self) -> torch.Tensor:
        return torch.zeros(self.batch_shape + self.event_shape, device=self.sigma.device)

    @property
    def variance(self) -> torch.Tensor:
        return (self.sigma**2 + self.gamma**2).expand(self.batch_shape + self.event_shape)

    def covariance_matrix_per_dim(self) -> torch.Tensor:
        """The J×J covariance shared by every latent dimension: σ² I + γ² 1 1ᵀ."""
        eye = torch.eye(self.views, device=self.sigma.device)
        return self.sigma**2 * eye + self.gamma**2 * torch.ones_like(eye)

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        shape = torch.Size(sample_shape) + self.batch_shape
        device = self.sigma.device
        content = self.gamma * torch.randn(shape + (1, self.latent_dim), device=device)
        return content + self.sigma * torch.randn(shape + self.event_shape, device=device)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        j = self.views
        var = self.sigma**2
        total = value.sum(-2)
        squares = value.pow(2).sum(-2)
        quadratic = (squares - total.pow(2) / (j + var / self.gamma**2)) / var
        log_norm = j * torch.log(2 * math.pi * var) + torch.log1p(j * self.gamma**2 / var)
        return -0.5 * (quadratic + log_norm).sum(-1)


def pinch_term(z: torch.Tensor, sigma2: float) -> torch.Tensor:
    """The paper's SimVAE prior term Σ_j ‖z^j - z̄‖² / (2σ²) for views z of shape (..., J, L)."""
    return (z - z.mean(-2, keepdim=True)).pow(2).sum((-2, -1)) / (2 * sigma2)


class GroupedViews(TorchDistribution):
    r"""J views of one image spread around a shared content with any prior: the SSL prior for non-Gaussian content.

    The content c of a group is the mean of its views, c = z̄ = (1/J) Σ_j z^j, with density p_c (a mixture, a
    VampPrior, a flow, ...); the views' deviations from it are Gaussian, z^j − z̄ ~ N(0, σ²) restricted to the
    (J−1)·L-dimensional subspace where they sum to zero. By an orthonormal (Helmert) change of variables

        log p(z^1..z^J) = log p_c(z̄) − Σ_j ‖z^j − z̄‖² / 2σ² − (J−1)L/2 · log(2πσ²) − L/2 · log J.

    This is exactly the paper's model ψ ~ p(ψ), z^j | ψ ~ N(ψ, σ²I) when p_c = p(ψ) ⊛ N(0, σ²/J): with a
    Gaussian p_c = N(0, (γ² + σ²/J) I) it equals `ExchangeableGaussian`. Defining the learned prior on z̄ rather
    than on ψ keeps log p exact (no integral over ψ) for every content density. With J = 1 it is p_c itself.

    `content` is a distribution over R^L with event shape (L,) and empty batch shape. Event shape (J, L).
    """

    arg_constraints = {"sigma": constraints.positive}
    support = constraints.independent(constraints.real, 2)

    def __init__(self, content: TorchDistribution, views: int, sigma: float | torch.Tensor,
                 batch_shape: torch.Size = torch.Size(), validate_args: bool | None = None):
        if content.batch_shape != torch.Size() or len(content.event_shape) != 1:
            raise ValueError(f"content must have event shape (L,) and no batch shape, got {content.batch_shape} {content.event_shape}")
        self.content, self.views = content, int(views)
        self.latent_dim = content.event_shape[0]
        self.sigma = torch.as_tensor(sigma, dtype=torch.get_default_dtype())
        super().__init__(torch.Size(batch_shape), torch.Size((self.views, self.latent_dim)), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return GroupedViews(self.content, self.views, self.sigma, torch.Size(batch_shape))

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        shape = torch.Size(sample_shape) + self.batch_shape
        with torch.no_grad():
            centre = self.content.sample(shape).unsqueeze(-2)                     # (..., 1, L)
            noise = torch.randn(shape + self.event_shape, device=centre.device)
            return centre + self.sigma * (noise - noise.mean(-2, keepdim=True))  # deviations sum to zero

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        j, dim = self.views, self.latent_dim
        centre = value.mean(-2)
        log_p = self.content.log_prob(centre)
        if j > 1:
            var = self.sigma**2
            spread = (value - centre.unsqueeze(-2)).pow(2).sum((-2, -1))
            log_p = log_p - spread / (2 * var) - 0.5 * (j - 1) * dim * torch.log(2 * math.pi * var) - 0.5 * dim * math.log(j)
        return log_p
