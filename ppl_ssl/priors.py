"""Priors over the latent codes of the J views of one image: p(z^1..z^J). Chosen by `model.prior.kind`.

Each prior is an `nn.Module` called with the number of views J that returns a Pyro distribution of event shape
(J, L), so any model program can use any prior (and any objective: every log_prob here is exact).

- `standard_normal`: every view's code N(0, I) on its own (the VAE prior).
- `ssl_group`: SimVAE's content ψ ~ N(0, γ²I), views z^j | ψ ~ N(ψ, σ²I), ψ integrated out.
- `mog`, `vamp`, `realnvp`, `maf`: a learned density for the *content* of a group — the mean of its views —
  with the views kept Gaussian around it (variance `sigma2`), see `GroupedViews`. With J = 1 (VAE-type models)
  the prior is simply that density over z.
"""
from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass

import pyro.distributions as dist
import torch
from torch import nn

from ppl_ssl.contracts import BuildContext, Prior
from ppl_ssl.distributions import ExchangeableGaussian, GroupedViews
from ppl_ssl.errors import ConfigError
from ppl_ssl.flows import FlowStack
from ppl_ssl.hyperspherical import HypersphericalUniform
from ppl_ssl.poincare import WrappedNormal
from ppl_ssl.options import at_least, option, positive, widths
from ppl_ssl.registry import PRIORS


@PRIORS.register("standard_normal", summary="z^j ~ N(0, I) independently for each view (the VAE prior)")
class StandardNormalPrior(Prior):
    def __init__(self, options: None, context: BuildContext):
        super().__init__()
        self.latent_dim = context.latent_dim
        self.register_buffer("zero", torch.zeros(()))

    def forward(self, views: int) -> dist.TorchDistribution:
        return dist.Normal(self.zero, 1.0).expand((views, self.latent_dim)).to_event(2)


@PRIORS.register("hyperspherical_uniform",
                 summary="z^j uniform on the unit sphere S^{L−1}, independently for each view (hyperspherical VAE)")
class HypersphericalUniformPrior(Prior):
    def __init__(self, options: None, context: BuildContext):
        super().__init__()
        self.latent_dim = context.latent_dim
        self.register_buffer("zero", torch.zeros(()))

    @classmethod
    def check_config(cls, config) -> None:
        if config.guide.kind != "von_mises_fisher":
            raise ConfigError(f"model.prior.kind = 'hyperspherical_uniform' is a density on the unit sphere, and guide.kind = "
                              f"'{config.guide.kind}' draws codes off it; set guide.kind = 'von_mises_fisher' (or use --model svae)")

    def forward(self, views: int) -> dist.TorchDistribution:
        return HypersphericalUniform(self.latent_dim, (views,), self.zero.device, self.zero.dtype).to_event(1)


@dataclass
class PoincareOptions:
    curvature: float = option(1.0, positive("c of the ball's curvature −c (Pythae's default 1)"))
    scale: float = option(1.0, positive("σ of the prior's wrapped normal at the origin"))


@PRIORS.register("poincare_wrapped_normal", PoincareOptions,
                 summary="z^j ~ WN(0, σ²) on the Poincaré ball of curvature −c, independently per view (Poincaré VAE)")
class PoincareWrappedNormalPrior(Prior):
    def __init__(self, options: PoincareOptions, context: BuildContext):
        super().__init__()
        self.latent_dim, self.options = context.latent_dim, options
        self.register_buffer("zero", torch.zeros(()))

    @classmethod
    def check_config(cls, config) -> None:
        if config.guide.kind != "poincare_wrapped_normal":
            raise ConfigError(f"model.prior.kind = 'poincare_wrapped_normal' is a density on the Poincaré ball, and "
                              f"guide.kind = '{config.guide.kind}' draws codes with a density of R^L; set guide.kind = "
                              f"'poincare_wrapped_normal' (or use --model poincare-vae)")

    def forward(self, views: int) -> dist.TorchDistribution:
        o = self.options
        origin = self.zero.expand(views, self.latent_dim)
        return dist.Independent(WrappedNormal(origin, torch.full_like(origin, o.scale), o.curvature), 1)


@dataclass
class SSLGroupOptions:
    # σ², variance of each view's z around the shared content ψ (paper: 0.15)
    sigma2: float = option(0.15, positive())
    # γ, scale of the content prior ψ ~ N(0, γ² I); γ → ∞ gives the paper's (improper) pinch term
    gamma: float = option(1.0, positive())


@PRIORS.register("ssl_group", SSLGroupOptions, summary="ψ ~ N(0, γ²I), z^j | ψ ~ N(ψ, σ²I), ψ integrated out (SimVAE)")
class SSLGroupPrior(Prior):
    def __init__(self, options: SSLGroupOptions, context: BuildContext):
        super().__init__()
        self.latent_dim = context.latent_dim
        self.register_buffer("sigma", torch.tensor(math.sqrt(options.sigma2)))
        self.register_buffer("gamma", torch.tensor(float(options.gamma)))

    def forward(self, views: int) -> dist.TorchDistribution:
        return ExchangeableGaussian(views, self.latent_dim, self.sigma, self.gamma)


# ----------------------------------------------------------------------------------------------- learned content


class ContentPrior(Prior):
    """A learned density p_c over the content z̄ of each group; subclasses define `content()`."""

    def __init__(self, sigma2: float):
        super().__init__()
        self.register_buffer("sigma", torch.tensor(math.sqrt(sigma2)))

    @abstractmethod
    def content(self) -> dist.TorchDistribution:
        """The density over a group's content."""

    def forward(self, views: int) -> dist.TorchDistribution:
        return GroupedViews(self.content(), views, self.sigma)


def diagonal_gaussian_mixture(logits: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> dist.TorchDistribution:
    """Σ_k softmax(logits)_k N(loc_k, diag scale_k²) over R^L; loc and scale are (K, L)."""
    return dist.MixtureSameFamily(dist.Categorical(logits=logits), dist.Normal(loc, scale).to_event(1))


def _within_group_sigma2() -> float:
    # σ² of the views around their content (only used when J > 1); SimVAE's value
    return option(0.15, positive())


@dataclass
class MixtureOptions:
    components: int = option(10, at_least(1))
    sigma2: float = _within_group_sigma2()


@PRIORS.register("mog", MixtureOptions, summary="learnable mixture of diagonal Gaussians for the content")
class MixturePrior(ContentPrior):
    def __init__(self, options: MixtureOptions, context: BuildContext):
        super().__init__(options.sigma2)
        k, dim = options.components, context.latent_dim
        self.loc = nn.Parameter(torch.randn(k, dim))  # spread out so the components start apart
        self.log_scale = nn.Parameter(torch.zeros(k, dim))
        self.logits = nn.Parameter(torch.zeros(k))

    def content(self) -> dist.TorchDistribution:
        return diagonal_gaussian_mixture(self.logits, self.loc, self.log_scale.exp())


@dataclass
class VampOptions:
    components: int = option(50, at_least(1, 'pseudo-inputs'))
    sigma2: float = _within_group_sigma2()


@PRIORS.register("vamp", VampOptions, summary="VampPrior: mean of q(z | u_k) over learnable pseudo-inputs u_k (Tomczak & Welling)")
class VampPrior(ContentPrior):
    """p(z) = (1/K) Σ_k q(z | u_k), the encoder's Gaussian at K learnable pseudo-images u_k (shared encoder)."""

    shares_the_encoder = True

    def __init__(self, options: VampOptions, context: BuildContext):
        super().__init__(options.sigma2)
        self.encoder = context.encoder  # shared with the guide: the prior moves with the posterior
        self.pseudo_logits = nn.Parameter(0.5 * torch.randn(options.components, *context.image_shape))

    def pseudo_inputs(self) -> torch.Tensor:
        return torch.sigmoid(self.pseudo_logits)  # images in [0, 1], like the data

    def content(self) -> dist.TorchDistribution:
        loc, scale = self.encoder(self.pseudo_inputs())
        return diagonal_gaussian_mixture(torch.zeros(len(loc), device=loc.device), loc, scale)  # equal weights


@dataclass
class FlowOptions:
    flows: int = option(4, at_least(1))
    hidden: list[int] = option([64, 64], widths())
    sigma2: float = _within_group_sigma2()


class FlowPrior(ContentPrior):
    """p_c = a standard normal pushed through a stack of learnable bijections."""

    def __init__(self, options: FlowOptions, context: BuildContext, layer: str, inverse: bool, kind: str):
        super().__init__(options.sigma2)
        self.flow = FlowStack([layer] * options.flows, context.latent_dim, options.hidden, inverse, f"model.prior.kind = '{kind}'")
        self.register_buffer("zero", torch.zeros(context.latent_dim))

    def content(self) -> dist.TorchDistribution:
        base = dist.Normal(self.zero, torch.ones_like(self.zero)).to_event(1)
        return dist.TransformedDistribution(base, self.flow.transforms())


@PRIORS.register("realnvp", FlowOptions, summary="RealNVP flow prior: affine coupling layers (Dinh et al.), Pyro's AffineCoupling")
class RealNVPPrior(FlowPrior):
    def __init__(self, options: FlowOptions, context: BuildContext):
        super().__init__(options, context, "affine_coupling", inverse=False, kind="realnvp")


@PRIORS.register("maf", FlowOptions, summary="masked autoregressive flow prior (Papamakarios et al.): one-pass log_prob")
class MAFPrior(FlowPrior):
    # Pyro's AffineAutoregressive samples in one pass (IAF); used backwards it scores in one pass: the MAF.
    def __init__(self, options: FlowOptions, context: BuildContext):
        super().__init__(options, context, "affine_autoregressive", inverse=True, kind="maf")
