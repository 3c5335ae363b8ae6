"""Posterior diagnostics of a fitted system (the metrics CR-VAE reports, with the sign of the MI right).

For N test images x_n, one draw z_n ~ q(z | x_n) each, and the aggregate posterior q(z) = (1/N) Σ_m q(z | x_m):

    KL        = (1/N) Σ_n [log q(z_n | x_n) − log p(z_n)]            E_x KL(q(z|x) ‖ p(z))
    MI        = (1/N) Σ_n [log q(z_n | x_n) − log q(z_n)]             I_q(x; z) ≥ 0, at most log N
    KL_agg    = (1/N) Σ_n [log q(z_n) − log p(z_n)]                   KL(q(z) ‖ p(z)) ≥ 0
    KL = MI + KL_agg                                                  (Hoffman & Johnson, 2016)
    active units: dimensions with Var_x E_q[z | x] > 0.01 (Burda et al.)

The authors' CR-VAE code reports −MI; here MI ≥ 0 by construction of the estimator (up to Monte Carlo error).
"""
from __future__ import annotations

import math

import pyro.poutine as poutine
import torch
from pyro.poutine.util import site_is_subsample

ACTIVE_UNIT_THRESHOLD = 0.01


@torch.no_grad()
def active_units(codes: torch.Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """Number of code dimensions whose posterior mean varies across data: Var_x E_q[z | x] > threshold."""
    return int((codes.var(0) > threshold).sum())


@torch.no_grad()
def aggregate_log_density(posterior, z: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """log q(z_n) = log (1/M) Σ_m q(z_n | x_m) for z (N, 1, L) under a posterior with batch (M,): shape (N,)."""
    parts = []
    for i in range(0, len(z), chunk):
        pairwise = posterior.log_prob(z[i : i + chunk].unsqueeze(1))  # (n, M): every code under every datum's q
        parts.append(pairwise.logsumexp(1) - math.log(pairwise.shape[1]))
    return torch.cat(parts)


@torch.no_grad()
def posterior_diagnostics(system, images: torch.Tensor) -> dict[str, float | int | None]:
    """KL, MI, aggregate KL and active units of a system on float images (N, C, H, W) in [0, 1]."""
    system.eval()
    codes = system.encode(images)
    out: dict[str, float | int | None] = {"active_units": active_units(codes), "latent_dim": codes.shape[-1]}
    if not system.has_density:
        return {**out, "kl": None, "mutual_information": None, "aggregate_kl": None}
    views = images.unsqueeze(1)
    posterior = system.guide.posterior(views)                      # batch (N,), event (1, L)
    z = posterior.rsample()                                        # (N, 1, L)
    log_q = posterior.log_prob(z)
    log_p = system.model.prior(1).log_prob(z)
    out["kl"] = float((log_q - log_p).mean())
    try:
        log_q_agg = aggregate_log_density(posterior, z)
    except (NotImplementedError, KeyError):  # flows without an inverse (planar, radial) cannot score other codes
        return {**out, "mutual_information": None, "aggregate_kl": None}
    out["mutual_information"] = float((log_q - log_q_agg).mean())
    out["aggregate_kl"] = float((log_q_agg - log_p).mean())
    return out


@torch.no_grad()
def site_terms(system, images: torch.Tensor) -> dict[str, float]:
    """The ELBO split by sample site, nats per image (one draw from the guide), for hierarchical programs' levels:
    re_NAME = E_q log p(NAME | parents) for each observed site, kl_NAME = E_q[log q(NAME) − log p(NAME | parents)]
    for each latent site. Their Σ re − Σ kl is the single-view ELBO."""
    views = images.unsqueeze(1)
    guide_trace = poutine.trace(system.guide).get_trace(views)
    model_trace = poutine.trace(poutine.replay(system.model, trace=guide_trace)).get_trace(views)
    terms: dict[str, float] = {}
    for name, site in model_trace.nodes.items():
        if site["type"] != "sample" or site_is_subsample(site):
            continue
        log_p = site["fn"].log_prob(site["value"])
        if site["is_observed"]:
            terms[f"re_{name}"] = float(log_p.sum()) / len(images)
        else:
            log_q = guide_trace.nodes[name]["fn"].log_prob(site["value"])
            terms[f"kl_{name}"] = float((log_q - log_p).sum()) / len(images)
    return terms
