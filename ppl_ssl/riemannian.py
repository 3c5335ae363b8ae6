"""A learnt Riemannian metric of the latent space (Chadebec, Mantoux & Allassonnière 2020) and the Gaussian momenta it
defines, for the Riemannian Hamiltonian VAE (`models/rhvae.py`, `guides/riemannian_hamiltonian.py`):

    G⁻¹(z) = Σ_i L_i L_iᵀ exp(−‖z − c_i‖² / T²) + λ I,   L_i = L_ψ(x_i) lower triangular with a positive diagonal.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class Anchors:
    """The (c_i, L_i L_iᵀ) that define G⁻¹: centres (M, L) and the flattened products (M, L·L)."""

    def __init__(self, centres: torch.Tensor, factors: torch.Tensor):
        self.centres = centres
        self.products = (factors @ factors.transpose(-1, -2)).flatten(-2)


class RiemannianMetric(nn.Module):
    """L_ψ(x), the anchors of a batch or of the stored training images, and G⁻¹(z) from them."""

    def __init__(self, image_numel: int, latent_dim: int, hidden: int, temperature: float, regularisation: float,
                 capacity: int):
        super().__init__()
        self.latent_dim, self.temperature, self.regularisation = latent_dim, temperature, regularisation
        # Pythae's default metric network for images: one hidden layer, heads for the diagonal and the lower part
        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(image_numel, hidden), nn.ReLU())
        self.diagonal = nn.Linear(hidden, latent_dim)
        self.lower = nn.Linear(hidden, latent_dim * (latent_dim - 1) // 2)
        # the evaluation metric: a ring of the last `anchors` training images' anchors (saved with the model)
        self.register_buffer("stored_centres", torch.zeros(capacity, latent_dim))
        self.register_buffer("stored_factors", torch.zeros(capacity, latent_dim, latent_dim))
        self.register_buffer("stored_count", torch.zeros((), dtype=torch.long))

    def factors(self, images: torch.Tensor) -> torch.Tensor:
        """L_ψ(x): lower triangular with a positive diagonal, (M, L, L) for images (M, C, H, W)."""
        h = self.trunk(images)
        rows, cols = torch.tril_indices(self.latent_dim, self.latent_dim, -1, device=images.device)
        factor = torch.diag_embed(self.diagonal(h).exp())
        return factor.index_put((torch.arange(len(h), device=h.device)[:, None], rows, cols), self.lower(h))

    def batch_anchors(self, views: torch.Tensor, encoder: nn.Module, store: bool = False) -> Anchors:
        """The batch's own anchors (N·J of them: centres μ_φ(x), factors L_ψ(x)), differentiable; stored if `store`."""
        images = views.flatten(0, 1)
        centres, factors = encoder(images)[0], self.factors(images)
        if store:
            self.store(centres.detach(), factors.detach())
        return Anchors(centres, factors)

    @torch.no_grad()
    def store(self, centres: torch.Tensor, factors: torch.Tensor) -> None:
        capacity, count = len(self.stored_centres), int(self.stored_count)
        centres, factors = centres[-capacity:], factors[-capacity:]
        slots = (count + torch.arange(len(centres), device=centres.device)) % capacity
        self.stored_centres[slots], self.stored_factors[slots] = centres, factors
        self.stored_count += len(centres)

    def stored_anchors(self) -> Anchors:
        """The stored training anchors; before any are stored, one at the origin with L = I (Pythae's start)."""
        count = min(int(self.stored_count), len(self.stored_centres))
        if count == 0:
            eye = torch.eye(self.latent_dim, device=self.stored_centres.device)
            return Anchors(torch.zeros_like(eye[:1]), eye[None])
        return Anchors(self.stored_centres[:count], self.stored_factors[:count])

    def inverse(self, z: torch.Tensor, anchors: Anchors) -> torch.Tensor:
        """G⁻¹(z) for codes (..., L): (..., L, L)."""
        squared = ((z * z).sum(-1, keepdim=True) - 2 * z @ anchors.centres.T
                   + (anchors.centres * anchors.centres).sum(-1))                    # ‖z − c_i‖², (..., M)
        weights = torch.exp(-squared.clamp_min(0) / self.temperature ** 2)
        metric = (weights @ anchors.products).unflatten(-1, (self.latent_dim, self.latent_dim))
        return metric + self.regularisation * torch.eye(self.latent_dim, device=z.device, dtype=z.dtype)


def riemannian_momentum_log_prob(rho: torch.Tensor, inverse_metric: torch.Tensor) -> torch.Tensor:
    """log N(ρ; 0, G) from G⁻¹, summed over all but the batch dims of (..., J, L): −½ ρᵀG⁻¹ρ + ½ log|G⁻¹| − (L/2) log 2π.
    By hand rather than MultivariateNormal(precision_matrix=G⁻¹), which turns the precision into a scale factor
    (a Cholesky and a triangular inverse) at each of the dynamics' many evaluations: here one determinant."""
    quadratic = (rho.unsqueeze(-2) @ inverse_metric @ rho.unsqueeze(-1)).squeeze(-1).squeeze(-1)
    log_det = torch.linalg.slogdet(inverse_metric)[1]
    return (-0.5 * quadratic + 0.5 * log_det - rho.shape[-1] / 2 * math.log(2 * math.pi)).sum(-1)


def riemannian_momentum(inverse_metric: torch.Tensor) -> torch.Tensor:
    """A draw of N(0, G) from G⁻¹ = U Uᵀ (Cholesky): ρ = U⁻ᵀ ε, whose covariance is U⁻ᵀ U⁻¹ = G."""
    upper = torch.linalg.cholesky(inverse_metric).transpose(-1, -2)
    noise = torch.randn(inverse_metric.shape[:-1], dtype=inverse_metric.dtype, device=inverse_metric.device)
    return torch.linalg.solve_triangular(upper, noise.unsqueeze(-1), upper=True).squeeze(-1)
