"""selfVAE (Gatopoulos & Tomczak, "Self-Supervised Variational Auto-Encoders"), K + 1 levels.

    y_{K+1} = x,  y_k = d(y_{k+1})           deterministic, discrete transforms of the image (downscale, sketch)
    u = z_0 ~ p(u)                            any prior of the registry (the paper: RealNVP)
    y_1 | u ~ p(y_1 | u)                      discretised logistic mixture
    z_k | y_k, z_{k-1} ~ p(z_k | y_k, z_{k-1})  conditional Gaussian, k = 1..K
    y_{k+1} | y_k, z_k ~ p(y_{k+1} | y_k, z_k)  discretised logistic mixture (the last one is x)

The y's are observed: q(y | x) = δ(d(x)) adds nothing to the ELBO (paper eq. 2), so the program scores them
like x. With levels = 1 the program is the VAE u -> x with the same nets, prior and likelihood (the paper's
baseline; preset `vae-logistic`). Relation to the SSL model (models/ssl.py): there, the content y is *latent* and shared by J augmented
views; here y is an *observed*, coarse view of the same image, and u carries what y needs, z what x adds to y.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyro
import torch
from torch import nn

from ppl_ssl.contracts import BuildContext, ModelProgram
from ppl_ssl.options import at_least, one_of, option, positive
from ppl_ssl.distributions import quantise
from ppl_ssl.errors import ConfigError
from ppl_ssl.selfvae.level_nets import ARCHITECTURES, ConditionalLatent, ImageDecoder
from ppl_ssl.likelihoods import LogisticMixtureLikelihood, LogisticMixtureOptions
from ppl_ssl.registry import MODELS, TRANSFORMS
from ppl_ssl.selfvae.transforms import transform_chain


def selfvae_model(views: torch.Tensor, levels: "SelfVAELevels", prior: nn.Module):
    """views (N, 1, C, H, W): one view per image (selfVAE does not use augmented views)."""
    ys = levels.chain(views[:, 0])                                             # [y_1, ..., y_K, x]
    with pyro.plate("images", len(views)):
        z = pyro.sample("u", prior(1))[..., 0, :]                              # u = z_0 ~ p(u)
        pyro.sample(levels.image_site(0), levels.likelihood(levels.first(z)), obs=ys[0])  # p(y_1 | u)
        for k in range(1, len(ys)):
            z = pyro.sample(f"z{k}", levels.latent_prior(k, ys[k - 1], z))     # p(z_k | y_k, z_{k-1})
            pyro.sample(levels.image_site(k), levels.likelihood(levels.image[k - 1](z, ys[k - 1])), obs=ys[k])


@dataclass
class SelfVAEOptions:
    levels: int = option(2, at_least(1, "1: the VAE u -> x with selfVAE's nets; 2: x and one transform of it"))
    transform: str = option("downscale", one_of(TRANSFORMS.names, note="a registered transform"))
    sketch_blur: float = option(1.5, positive('pixels'))
    components: int = option(5, at_least(1, 'logistic mixture components per pixel'))
    channels: int = option(32, at_least(1, 'conv channels'))
    architecture: str = option("compact", one_of(ARCHITECTURES.names, note="compact: 28-px grey, CPU; dense: the paper's A.3"))
    growth: int = option(16, at_least(1, 'maps each dense layer adds; architecture = dense'))
    dense_layers: int = option(3, at_least(1, 'convolutions per dense block; architecture = dense'))


class SelfVAELevels(nn.Module):
    """The generative nets of every level, and the transform chain they are trained on."""

    def __init__(self, image_shape, latent_dim: int, options: SelfVAEOptions):
        super().__init__()
        self.options = options
        self.blocks = ARCHITECTURES.build(options.architecture, options, BuildContext(None))
        self.transform = TRANSFORMS.build(options.transform, options, BuildContext(None))
        self.likelihood = LogisticMixtureLikelihood(LogisticMixtureOptions(components=options.components))
        shapes = [tuple(y.shape[1:]) for y in self.chain(torch.zeros(1, *image_shape))]
        self.shapes = shapes
        raw = lambda shape: self.likelihood.raw_channels(shape[0])  # noqa: E731
        channels, blocks = options.channels, self.blocks
        self.first = ImageDecoder(shapes[0], latent_dim, raw(shapes[0]), channels, blocks=blocks)
        self.latent = nn.ModuleList([ConditionalLatent(shapes[k - 1], latent_dim, latent_dim, channels, blocks)
                                     for k in range(1, len(shapes))])
        self.image = nn.ModuleList([ImageDecoder(shapes[k], latent_dim, raw(shapes[k]), channels, shapes[k - 1], blocks)
                                    for k in range(1, len(shapes))])

    def chain(self, x: torch.Tensor) -> list[torch.Tensor]:
        return transform_chain(x, self.transform, self.options.levels)

    def latent_prior(self, k: int, coarse: torch.Tensor, previous: torch.Tensor):
        loc, scale = self.latent[k - 1](coarse, previous)
        return pyro.distributions.Normal(loc, scale).to_event(1)

    def image_site(self, k: int) -> str:
        """The site name of image level k of [y_1, ..., y_K, x] (k = 0 is x itself when levels = 1, the VAE)."""
        return "x" if k == len(self.shapes) - 1 else f"y{k + 1}"


@MODELS.register("selfvae", SelfVAEOptions, summary="selfVAE: u -> y_1 -> z_k -> y_{k+1} -> x over transforms y = d(x)")
class SelfVAEModel(ModelProgram):
    @classmethod
    def build(cls, options: SelfVAEOptions, context: BuildContext) -> "SelfVAEModel":
        return cls(SelfVAELevels(context.image_shape, context.latent_dim, options), context.prior)

    @classmethod
    def check_config(cls, config) -> None:
        check_selfvae_pairing(config)
        if config.model.views != 1:
            raise ConfigError(f"model.program = 'selfvae' models one image at a time, got model.views = {config.model.views}; "
                              f"use --views 1")

    def __init__(self, levels: SelfVAELevels, prior: nn.Module):
        super().__init__()
        self.levels, self.prior = levels, prior
        self.likelihood = levels.likelihood  # the likelihood of x (bits/dim reads `discrete` from it)

    def forward(self, views: torch.Tensor) -> None:
        if views.shape[1] != 1:
            raise ValueError(f"selfVAE takes one view per image, got J = {views.shape[1]}")
        selfvae_model(views, self.levels, self.prior)

    # ---- generation and reconstruction without inference (the guide's part lives in the system) ----
    @torch.no_grad()
    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Mean images x from codes [u, z_1..z_K] (..., (K+1)·L): each level's mean, quantised, feeds the next."""
        u, *zs = codes.chunk(len(self.levels.shapes), dim=-1)
        y = _quantised_mean(self.likelihood(self.levels.first(u)))
        for k, z in enumerate(zs, start=1):
            y = _quantised_mean(self.likelihood(self.levels.image[k - 1](z, y)))
        return y

    @torch.no_grad()
    def sample_codes(self, n: int, views: int = 1) -> torch.Tensor:
        """Codes [u, z_1..z_K] of n images, (n, 1, (K+1)·L), drawn level by level, each image level its quantised
        mean (as `decode_codes` does)."""
        if views != 1:
            raise ValueError(f"selfVAE generates one view per image, asked for {views}")
        z = self.prior(1).sample((n,))[:, 0]
        codes, y = [z], _quantised_mean(self.likelihood(self.levels.first(z)))
        for k in range(1, len(self.levels.shapes)):
            z = self.levels.latent_prior(k, y, z).sample()
            codes.append(z)
            y = _quantised_mean(self.likelihood(self.levels.image[k - 1](z, y)))
        return torch.cat(codes, dim=-1).unsqueeze(1)

    @torch.no_grad()
    def generate(self, n: int, u: torch.Tensor | None = None, ys: list[torch.Tensor] | None = None,
                 zs: list[torch.Tensor | None] | None = None, sample_images: bool = True) -> list[torch.Tensor]:
        """Ancestral generation of all levels [y_1, ..., x]. Given values are used instead of sampling them:
        `u`, `ys[k]` (an observed level; None to generate it) and `zs[k-1]` (an inferred z_k; None to sample)."""
        u = self.prior(1).sample((n,))[:, 0] if u is None else u
        draw = (lambda d: d.sample()) if sample_images else _quantised_mean
        levels = len(self.levels.shapes)
        ys, zs = list(ys or [None] * levels), list(zs or [None] * (levels - 1))
        y = ys[0] if ys[0] is not None else draw(self.likelihood(self.levels.first(u)))
        out, z = [y], u
        for k in range(1, levels):
            z = zs[k - 1] if zs[k - 1] is not None else self.levels.latent_prior(k, y, z).sample()
            y = ys[k] if ys[k] is not None else draw(self.likelihood(self.levels.image[k - 1](z, y)))
            out.append(y)
        return out


def _quantised_mean(distribution) -> torch.Tensor:
    return quantise(distribution.mean)


def check_selfvae_pairing(config) -> None:
    """selfVAE's program and guide are built for each other: one without the other is refused."""
    if (config.model.program.kind == "selfvae") != (config.guide.kind == "selfvae"):
        raise ConfigError(f"model.program = '{config.model.program.kind}' with guide.kind = '{config.guide.kind}': selfVAE's "
                          f"program and guide go together; set both model.program=selfvae and guide.kind=selfvae, or neither")
