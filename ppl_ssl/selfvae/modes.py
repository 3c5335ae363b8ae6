"""selfVAE's ways to generate and reconstruct (paper §3.3, Figure 3), with what each must send (Figure 6).

Every mode produces images x for test images x*; levels are [y_1, ..., y_K, x] with y_K = d(x*) the finest
transform. A latent is *inferred* (drawn from the guide's q given x*) or *sampled* (from the model's p); an
image level is *given* (the true transform, sent at 8 bits per value) or *generated* (the mean of its logistic
mixture, quantised). What must be sent is what the receiver cannot compute itself: given images, and inferred
latents at their bits-back cost KL(q ‖ p) ≈ log q(z) − log p(z | parents), one draw, in bits.

    generation                 nothing inferred, nothing given
    reconstruction-1           u ~ q(u | y_1*), the rest generated                        sends u
    reconstruction-2           u and every z_k inferred, images generated from them      sends u, z_1..z_K
    conditional-generation     y_K given, u inferred from it (free: the receiver has y), z sampled   sends y_K
    conditional-reconstruction y_K given, z_K ~ q(z_K | x*)                               sends y_K, z_K
    super-resolution           as conditional-generation: x from a low-resolution (or sketched) y_K alone

The paper's text names the processes of its Fig. 3 (ii) and (iii) the other way round; the figure's colours
(sampled vs inferred) agree with the names used here: a "reconstruction" reuses what was inferred from x*.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pyro.distributions as dist
import torch

from ppl_ssl.errors import ConfigError

MODES = ("generation", "reconstruction-1", "reconstruction-2", "conditional-generation", "conditional-reconstruction",
         "super-resolution")
CONDITIONAL_MODES = ("conditional-generation", "conditional-reconstruction", "super-resolution")  # need a transform y_K


def available_modes(levels: int) -> tuple[str, ...]:
    """The modes a model with `levels` image levels has: a VAE (levels = 1) has no y to condition on."""
    return MODES if levels > 1 else tuple(m for m in MODES if m not in CONDITIONAL_MODES)


def check_modes(modes: list[str], levels: int | None = None) -> None:
    """A one-line error for the first unknown mode, or one a model with `levels` image levels does not have
    (levels None: the names only, before a run is loaded)."""
    available = MODES if levels is None else available_modes(levels)
    for mode in modes:
        if mode not in MODES:
            raise ConfigError(f"unknown mode '{mode}'; choose 'all' or among {', '.join(MODES)}")
        if mode not in available:
            raise ConfigError(f"mode '{mode}' is not available with model.program.levels = {levels}, which has no "
                              f"transform y to condition on; choose among {', '.join(available)}")


@dataclass
class ModeResult:
    mode: str
    images: torch.Tensor        # (N, C, H, W): the x each mode produces
    given: torch.Tensor | None  # the given finest transform y_K (conditional modes), else None
    sent_bits: torch.Tensor     # (N,): bits the mode must send per image
    sent: tuple[str, ...]       # which variables are sent


def _q(guide, k: int, y: torch.Tensor) -> dist.Normal:
    loc, scale = guide.encoders[k](y)
    return dist.Normal(loc, scale)


@torch.no_grad()
def run_mode(model, guide, x: torch.Tensor, mode: str) -> ModeResult:
    """One mode on float images x (N, C, H, W) with values k/255."""
    levels = model.levels
    check_modes([mode], len(levels.shapes))
    true = levels.chain(x)                                                     # [y_1, ..., y_K, x]
    n, count = len(x), len(true)
    zero = torch.zeros(n, device=x.device)
    generate = lambda **given: model.generate(n, sample_images=False, **given)[-1]  # noqa: E731

    def inferred_u() -> tuple[torch.Tensor, torch.Tensor]:
        q = _q(guide, 0, true[0])
        u = q.sample()
        bits = (q.log_prob(u).sum(-1) - model.prior(1).log_prob(u.unsqueeze(-2))) / math.log(2)
        return u, bits

    if mode == "generation":
        return ModeResult(mode, generate(), None, zero, ())
    if mode == "reconstruction-1":
        u, bits = inferred_u()
        return ModeResult(mode, generate(u=u), None, bits, ("u",))
    if mode == "reconstruction-2":
        u, bits = inferred_u()
        zs = [_q(guide, k, true[k]).sample() for k in range(1, count)]
        images = model.generate(n, u=u, zs=zs, sample_images=False)                # y's generated from u and the z's
        previous = u
        for k in range(1, count):
            q, p = _q(guide, k, true[k]), levels.latent_prior(k, images[k - 1], previous)
            bits = bits + (q.log_prob(zs[k - 1]).sum(-1) - p.log_prob(zs[k - 1])) / math.log(2)
            previous = zs[k - 1]
        return ModeResult(mode, images[-1], None, bits, ("u", *(f"z{k}" for k in range(1, count))))
    given_bits = torch.full((n,), 8.0 * true[-2][0].numel(), device=x.device)
    given = [*true[:-1], None]                                                  # y_1..y_K given (from y_K), x generated
    u = _q(guide, 0, true[0]).sample()
    if mode in ("conditional-generation", "super-resolution"):
        return ModeResult(mode, generate(u=u, ys=given), true[-2], given_bits, (f"y{count - 1}",))
    # conditional-reconstruction: z_K inferred from x*, the z's below it drawn from their priors given the true y's
    previous, zs = u, []
    for k in range(1, count - 1):
        previous = levels.latent_prior(k, true[k - 1], previous).sample()
        zs.append(previous)
    q, p = _q(guide, count - 1, true[-1]), levels.latent_prior(count - 1, true[-2], previous)
    z_last = q.sample()
    bits = given_bits + (q.log_prob(z_last).sum(-1) - p.log_prob(z_last)) / math.log(2)
    images = generate(u=u, ys=given, zs=[*zs, z_last])
    return ModeResult(mode, images, true[-2], bits, (f"y{count - 1}", f"z{count - 1}"))


def quality(images: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    """Mean squared error per pixel and PSNR (dB, peak 1) of produced images against the true ones."""
    mse = float((images - truth).pow(2).mean())
    return {"mse": mse, "psnr": 10 * math.log10(1 / max(mse, 1e-12))}
