"""Flow guides: the amortised Gaussian followed by learnable bijections, q(z | x) = T_#N(μ_φ(x), σ_φ(x)²).

- `iaf`: inverse autoregressive flows (Kingma et al. 2016; Pythae's VAE-IAF), one-pass sampling and density.
- `linear_nf`: planar / radial flows (Rezende & Mohamed 2015; Pythae's VAE-lin-NF).

The flows' parameters are global (not amortised), as in Pythae; the amortisation is in the Gaussian base.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from ppl_ssl.guides.mean_field import AmortisedGuide, amortised_normal
from ppl_ssl.contracts import BuildContext
from ppl_ssl.flows import FlowStack
from ppl_ssl.options import at_least, list_of, one_of, option, widths
from ppl_ssl.registry import GUIDES


def flow_guide(views: torch.Tensor, encoder: nn.Module, transforms: list):
    with pyro.plate("images", len(views)):
        return pyro.sample("z", dist.TransformedDistribution(amortised_normal(views, encoder), transforms))


class FlowGuide(AmortisedGuide):
    has_density = True

    def __init__(self, encoder: nn.Module, flow: FlowStack):
        super().__init__(encoder)
        self.flow = flow

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        return flow_guide(views, self.encoder, self.flow.transforms())

    def posterior(self, views: torch.Tensor) -> dist.TorchDistribution:
        return dist.TransformedDistribution(amortised_normal(views, self.encoder), self.flow.transforms())

    def posterior_mean(self, images: torch.Tensor) -> torch.Tensor:
        """The representation: the base mean μ_φ(x) pushed through the flows (deterministic; not exactly E_q[z])."""
        return self.flow(self.encoder(images)[0])


@dataclass
class IAFOptions:
    flows: int = option(2, at_least(1))
    hidden: list[int] = option([64, 64], widths())


@GUIDES.register("iaf", IAFOptions, summary="mean-field Gaussian followed by inverse autoregressive flows (VAE-IAF)")
class IAFGuide(FlowGuide):
    @classmethod
    def build(cls, options: IAFOptions, context: BuildContext) -> "IAFGuide":
        flow = FlowStack(["affine_autoregressive"] * options.flows, context.latent_dim, options.hidden, owner="guide.kind = 'iaf'")
        return cls(context.encoder, flow)


@dataclass
class LinearNFOptions:
    flows: list[str] = option(["planar", "radial", "planar", "radial"],
                              list_of(one_of(("planar", "radial")), text="a non-empty list of 'planar' / 'radial'"))


@GUIDES.register("linear_nf", LinearNFOptions, summary="mean-field Gaussian followed by planar / radial flows (VAE-lin-NF)")
class LinearNFGuide(FlowGuide):
    @classmethod
    def build(cls, options: LinearNFOptions, context: BuildContext) -> "LinearNFGuide":
        flow = FlowStack(list(options.flows), context.latent_dim, owner="guide.kind = 'linear_nf'")
        return cls(context.encoder, flow)
