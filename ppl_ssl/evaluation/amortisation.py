"""The amortisation gap (Cremer, Li & Duvenaud 2018, "Inference Suboptimality in Variational Autoencoders").

For each of a few test images, three numbers in nats:

    ELBO(amortised)   the ELBO with the encoder's q(z | x)
    ELBO(optimised)   the ELBO with a Gaussian q fitted to that image alone (SVI from the encoder's output)
    log p(x)          the importance-weighted estimate

    amortisation gap  = ELBO(optimised) − ELBO(amortised)   what sharing one encoder across images costs
    approximation gap = log p(x) − ELBO(optimised)          what the Gaussian family itself costs

The per-image q has the guide's form (a diagonal Gaussian over the code of each view), so it applies to
programs with one latent site `z` (the SSL model, VAE, β-VAE, CR-VAE, InfoVAE, InfoMax-VAE).
"""
from __future__ import annotations


import pyro
import pyro.distributions as dist
import torch
from torch import nn
from torch.nn import functional as F

from ppl_ssl.errors import ConfigError
from ppl_ssl.evaluation.likelihood import importance_log_weights, test_views
from ppl_ssl.inference import iwae_bound
from ppl_ssl.reporting import mean_and_standard_error


class PerImageGaussian(nn.Module):
    """q(z | x_n) = N(loc_n, diag scale_n²) with free parameters for each of N images: (N, J, L) each."""

    def __init__(self, loc: torch.Tensor, scale: torch.Tensor):
        super().__init__()
        self.loc = nn.Parameter(loc.detach().clone())
        self.raw_scale = nn.Parameter(torch.log(torch.expm1(scale.detach().clamp_min(1e-6))))  # softplus⁻¹

    def forward(self, views: torch.Tensor, rows: slice = slice(None)) -> torch.Tensor:
        loc, scale = self.loc[rows], F.softplus(self.raw_scale[rows])
        with pyro.plate("images", len(views)):
            return pyro.sample("z", dist.Normal(loc, scale).to_event(2))


def amortisation_gaps(model, amortised_guide, posterior: tuple[torch.Tensor, torch.Tensor], views: torch.Tensor,
                      steps: int = 300, lr: float = 0.01, particles: int = 8, num_samples: int = 500) -> dict:
    """Per-image ELBOs and log p(x) (tensors (N,)) and their gaps' mean ± s.e. (floats).

    `posterior` = the amortised guide's (loc, scale) for `views`, where the per-image optimisation starts."""
    local = PerImageGaussian(*posterior).to(views.device)
    optimiser = torch.optim.Adam(local.parameters(), lr=lr)
    # the learning rate decays to zero: at the optimum, stochastic gradients would otherwise keep q jittering around it
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    elbo = pyro.infer.Trace_ELBO(num_particles=particles, vectorize_particles=True, max_plate_nesting=1)
    frozen = [p for p in _parameters(model) if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)  # only the per-image parameters move
    try:
        for _ in range(steps):
            optimiser.zero_grad()
            elbo.differentiable_loss(model, local, views).backward()  # a sum over images: each image's own problem
            optimiser.step()
            schedule.step()
        with torch.no_grad():
            amortised = importance_log_weights(model, amortised_guide, views, num_samples).double()
            optimised = torch.cat([importance_log_weights(model, lambda v, s=s: local(v, slice(s, s + len(v))), chunk,
                                                          num_samples, batch_size=len(chunk)).double()
                                   for s, chunk in _chunks(views)])
    finally:
        for p in frozen:
            p.requires_grad_(True)
    elbo_amortised, elbo_optimised = amortised.mean(1), optimised.mean(1)
    # log p(x) importance-weighted with the optimised q: the closer proposal, so the tighter (lower-variance) estimate
    log_px = iwae_bound(optimised.T)
    out = {"elbo_amortised": elbo_amortised, "elbo_optimised": elbo_optimised, "log_likelihood": log_px}
    for name, gap in (("amortisation_gap", elbo_optimised - elbo_amortised), ("approximation_gap", log_px - elbo_optimised)):
        mean, se = mean_and_standard_error(gap.tolist())
        out[f"{name}_mean"], out[f"{name}_se"] = mean, se
    return out


def _parameters(model) -> list[torch.Tensor]:
    return list(model.parameters()) if isinstance(model, nn.Module) else []


def _chunks(views: torch.Tensor, size: int = 10):
    for start in range(0, len(views), size):
        yield start, views[start : start + size]


def run_amortisation_gaps(system, images: torch.Tensor, steps: int = 300, num_samples: int = 500, seed: int = 0) -> dict:
    """The gaps of a fitted run on uint8 test images (N, C, H, W), each image as a set of J = 1 views."""
    if not system.has_density:
        raise ConfigError("the amortisation gap needs a guide with a density over one latent site 'z' (mean_field or a "
                          f"flow guide); this run's {type(system).__name__} has none")
    guide = system.guide
    torch.manual_seed(seed)
    views = test_views(system, images)
    with torch.no_grad():
        posterior = guide.posterior(views)
    base = posterior.base_dist if isinstance(posterior, dist.Independent) else None
    if not isinstance(base, dist.Normal):
        raise ConfigError(f"the amortisation gap starts from a Gaussian q(z | x); this run's guide gives {type(posterior).__name__}")
    result = amortisation_gaps(system.model, guide, (base.loc, base.scale), views, steps=steps, num_samples=num_samples)
    per_image = {k: v.tolist() for k, v in result.items() if isinstance(v, torch.Tensor)}
    summary = {k: v for k, v in result.items() if not isinstance(v, torch.Tensor)}
    summary.update({"gap_images": len(images), "gap_steps": steps, "gap_samples": num_samples,
                    "elbo_amortised_mean": float(torch.tensor(per_image["elbo_amortised"]).mean()),
                    "elbo_optimised_mean": float(torch.tensor(per_image["elbo_optimised"]).mean()),
                    "log_likelihood_mean": float(torch.tensor(per_image["log_likelihood"]).mean())})
    return {"summary": summary, "per_image": per_image}


__all__ = ["PerImageGaussian", "amortisation_gaps", "run_amortisation_gaps"]
