"""selfVAE's guide: q(u | y_1) and q(z_k | y_{k+1}) (the paper's simplification of q(z | x, y)); q(y | x) = δ(d(x))."""
from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from ppl_ssl.selfvae.level_nets import LatentEncoder
from ppl_ssl.models.selfvae import check_selfvae_pairing
from ppl_ssl.contracts import BuildContext, Guide
from ppl_ssl.registry import GUIDES


def selfvae_guide(views: torch.Tensor, chain, encoders: nn.ModuleList):
    ys = chain(views[:, 0])                                                     # [y_1, ..., y_K, x] = d(x) chain
    with pyro.plate("images", len(views)):
        pyro.sample("u", _normal(encoders[0](ys[0]), views=True))               # q(u | y_1)
        for k in range(1, len(ys)):
            pyro.sample(f"z{k}", _normal(encoders[k](ys[k])))                   # q(z_k | y_{k+1})


def _normal(loc_scale, views: bool = False) -> dist.TorchDistribution:
    loc, scale = loc_scale
    if views:  # u has the prior registry's event shape (1 view, L)
        return dist.Normal(loc.unsqueeze(-2), scale.unsqueeze(-2)).to_event(2)
    return dist.Normal(loc, scale).to_event(1)


@GUIDES.register("selfvae", summary="selfVAE's amortised Gaussians q(u | y_1), q(z_k | y_{k+1}) (model.program = selfvae)")
class SelfVAEGuide(Guide):
    has_density = True

    @classmethod
    def build(cls, options: None, context: BuildContext) -> "SelfVAEGuide":
        return cls(context.model.levels, context.latent_dim)  # its encoders mirror the program's levels

    @classmethod
    def check_config(cls, config) -> None:
        check_selfvae_pairing(config)

    def __init__(self, levels: nn.Module, latent: int):
        super().__init__()
        channels = levels.options.channels
        self.chain = levels.chain
        self.encoders = nn.ModuleList([LatentEncoder(shape, latent, channels, levels.blocks) for shape in levels.shapes])

    @property
    def code_parts(self) -> tuple[str, ...]:
        """The names of posterior_mean's parts, one per level."""
        return ("u", *(f"z{k}" for k in range(1, len(self.encoders))))

    def forward(self, views: torch.Tensor) -> None:
        selfvae_guide(views, self.chain, self.encoders)

    def posterior(self, views: torch.Tensor) -> dist.TorchDistribution:
        """q(u | y_1), the top of the hierarchy (posterior diagnostics are about u)."""
        return _normal(self.encoders[0](self.chain(views[:, 0])[0]), views=True)

    def posterior_means(self, images: torch.Tensor) -> list[torch.Tensor]:
        """[E_q u, E_q z_1, ..., E_q z_K] of un-augmented images."""
        return [encoder(y)[0] for encoder, y in zip(self.encoders, self.chain(images))]

    def posterior_mean(self, images: torch.Tensor) -> torch.Tensor:
        """The representation: the codes of every level, concatenated, (N, (K+1)·L)."""
        return torch.cat(self.posterior_means(images), dim=-1)
