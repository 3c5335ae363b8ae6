"""How well a fitted model explains held-out images: importance-weighted log-likelihood per datum, bits/dim,
PSIS diagnostics of the importance weights, and reconstruction error.

One implementation serves every model program and guide: it only needs the per-datum log-weights of
`ppl_ssl.inference.importance_sample`,

    log p(x) ≈ log (1/K) Σ_k p(x, z_k) / q(z_k | x),   z_k ~ q(z | x),

computed in chunks of data and of particles (memory stays bounded for K = 1000 on a whole test set) and
combined exactly with log-sum-exp. It is a stochastic lower bound in expectation (IWAE_K), tight as K → ∞.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from ppl_ssl.data import as_float
from ppl_ssl.errors import ConfigError
from ppl_ssl.inference import importance_sample, iwae_bound

PSIS_UNRELIABLE = 0.7  # Vehtari et al.: above this k̂ the importance-sampling estimate is unreliable


@torch.no_grad()
def importance_log_weights(model, guide, x: torch.Tensor, num_samples: int, batch_size: int | None = None,
                           particle_batch: int | None = None) -> torch.Tensor:
    """log p(x_n, z_k) − log q(z_k | x_n) for K = num_samples draws per datum, as a (N, K) float32 CPU tensor.

    `x` holds N data along its first dim, passed in slices as the programs' first argument. Chunks: at most
    `batch_size` data × `particle_batch` particles are in memory at once. The defaults (~2.5k decodings a chunk)
    keep a chunk's activations in cache: on a 2-core CPU they run 1.7× faster than 25k-decoding chunks.
    """
    particle_batch = particle_batch or min(num_samples, 250)
    batch_size = batch_size or max(1, 2_500 // particle_batch)
    out = torch.empty(len(x), num_samples)
    for start in range(0, len(x), batch_size):
        chunk = x[start : start + batch_size]
        for first in range(0, num_samples, particle_batch):
            k = min(particle_batch, num_samples - first)
            log_w = importance_sample(model, guide, chunk, num_particles=k).log_weight  # (k, n)
            out[start : start + len(chunk), first : first + k] = log_w.T.float().cpu()
    return out


def importance_weighted_nll(model, guide, x: torch.Tensor, num_samples: int = 1000, batch_size: int | None = None,
                            particle_batch: int | None = None) -> torch.Tensor:
    """Importance-weighted estimate of log p(x_n) for each datum: shape (N,). The NLL is its negative.

    >>> log_px = importance_weighted_nll(model, guide, x, num_samples=1000)   # per datum
    """
    log_w = importance_log_weights(model, guide, x, num_samples, batch_size, particle_batch)
    return iwae_bound(log_w.double().T).float()


def psis_khat(log_weights: torch.Tensor | np.ndarray) -> np.ndarray:
    """Pareto-smoothed importance sampling k̂ (arviz) of each datum's weights; log_weights is (N, K).

    k̂ < 0.5: the estimate converges fast; 0.5-0.7: slowly; > 0.7: unreliable. Data whose log-weights are
    all equal (a guide equal to the posterior) have no tail at all: k̂ = −inf.
    """
    import arviz  # imported here: arviz is slow to import and announces a refactor on import

    lw = np.asarray(log_weights, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, khat = arviz.psislw(lw)
    flat = (lw.max(-1) - lw.min(-1)) < 1e-9 * np.maximum(1.0, np.abs(lw).max(-1))
    return np.where(flat, -np.inf, np.asarray(khat, dtype=np.float64))


def bits_per_dim(nll_nats: float, dims: int, discrete: bool) -> float:
    """Bits per dimension of 8-bit images. A density on [0, 1] (pixels k/255) is turned into the probability of
    each pixel's bin of width 1/255 (midpoint rule: × 255^-D); a discrete likelihood is used as it is."""
    return (nll_nats + (0.0 if discrete else dims * math.log(255.0))) / (dims * math.log(2.0))


def test_views(system, images: torch.Tensor) -> torch.Tensor:
    """uint8 test images (N, C, H, W) as the programs take them: each a set of J = 1 views (N, 1, C, H, W) in [0, 1],
    on the system's device, the system put in evaluation mode."""
    system.eval()
    return as_float(images.to(next(system.parameters()).device)).unsqueeze(1)


def require_a_likelihood(system) -> None:
    """Refuse a model whose program scores images without a likelihood: it has no log p(x) to estimate."""
    if not system.model.observes_images:
        raise ConfigError(f"this run's model program ({type(system.model).__name__}) scores its reconstructions "
                          f"without a likelihood (no observed x), so it has no log p(x) to estimate; leave out --nll "
                          f"(eval.nll_samples = 0)")


def held_out_log_likelihood(system, images: torch.Tensor, num_samples: int) -> dict[str, float]:
    """Importance-weighted NLL, bits/dim and PSIS k̂ of a fitted system on uint8 images (N, C, H, W)."""
    require_a_likelihood(system)
    if not system.has_density:
        raise ConfigError("the importance-weighted NLL divides by q(z | x), but this run's guide (delta) has no density; "
                          "fit with guide.kind=mean_field (or another stochastic guide) to estimate likelihoods")
    views = test_views(system, images)
    log_w = importance_log_weights(system.model, system.guide, views, num_samples).double()
    log_px = iwae_bound(log_w.T)
    khat = psis_khat(log_w)
    nll = float(-log_px.mean())
    negative_elbo = float(-log_w.mean())  # the ELBO on the same images: the K log-weights' mean
    dims = math.prod(images.shape[1:])
    discrete = system.model.likelihood.discrete
    return {"test_nll": nll, "test_bpd": bits_per_dim(nll, dims, discrete),
            "test_elbo_bpd": bits_per_dim(negative_elbo, dims, discrete), "psis_khat_gt_0_7": float((khat > PSIS_UNRELIABLE).mean()),
            "psis_khat_median": float(np.median(khat)), "nll_samples": num_samples, "nll_images": len(images)}


@torch.no_grad()
def reconstruction_mse(system, images: torch.Tensor, batch_size: int = 2048) -> float:
    """Mean squared error per pixel between test images and the mean of p(x | E_q[z | x])."""
    total, count = 0.0, 0
    for i in range(0, len(images), batch_size):
        x = as_float(images[i : i + batch_size])
        total += float((system.reconstruct(x) - x).pow(2).sum())
        count += x.numel()
    return total / count
