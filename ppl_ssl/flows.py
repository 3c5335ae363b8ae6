"""Stacks of Pyro's normalising-flow transforms, shared by the flow priors and the flow guides.

A `FlowStack` holds the learnable layers as an `nn.Module` (so they move with `.to(device)` and are saved in
checkpoints) and builds the list of transforms on demand: the layers in the chosen direction, with the code's
order reversed between layers that only see part of it (coupling and autoregressive layers).
"""
from __future__ import annotations

import pyro.distributions.transforms as T
import torch
from torch import nn

from ppl_ssl.errors import ConfigError

LAYERS = {
    "affine_coupling": lambda dim, hidden: T.affine_coupling(dim, hidden_dims=list(hidden)),      # RealNVP
    "affine_autoregressive": lambda dim, hidden: T.affine_autoregressive(dim, hidden_dims=list(hidden)),  # IAF / MAF
    "planar": lambda dim, hidden: T.planar(dim),
    "radial": lambda dim, hidden: T.radial(dim),
}
PARTIAL = {"affine_coupling", "affine_autoregressive"}  # layers that need the order permuted between them


class FlowStack(nn.Module):
    def __init__(self, kinds: list[str], dim: int, hidden: list[int] = (64, 64), inverse: bool = False, owner: str = "flow"):
        super().__init__()
        unknown = sorted(set(kinds) - set(LAYERS))
        if unknown:
            raise ConfigError(f"{owner}: unknown flow layer {unknown[0]!r}; choose from {', '.join(sorted(LAYERS))}")
        if dim < 2 and set(kinds) & PARTIAL:
            raise ConfigError(f"{owner} needs model.latent_dim ≥ 2 (its layers split or order the code); got {dim}")
        self.kinds, self.inverse = list(kinds), inverse
        self.layers = nn.ModuleList(LAYERS[k](dim, hidden) for k in kinds)
        self.register_buffer("reverse", torch.arange(dim - 1, -1, -1))

    def transforms(self) -> list:
        """The transforms from base to target space. `inverse=True` uses each layer backwards (e.g. MAF from IAF)."""
        out: list = []
        for i, (kind, layer) in enumerate(zip(self.kinds, self.layers)):
            out.append(layer.inv if self.inverse else layer)
            if kind in PARTIAL and i + 1 < len(self.layers):
                out.append(T.Permute(self.reverse))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for t in self.transforms():
            x = t(x)
        return x
