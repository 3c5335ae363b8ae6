"""Projection heads: the small MLPs between the representation and a discriminative loss (the representation
evaluated downstream is the encoder output *before* the head)."""
from __future__ import annotations

from torch import nn

from ppl_ssl.precision import AutocastModule


class ProjectionHead(AutocastModule, nn.Sequential):
    """Linear layers in_dim → sizes[0] → … → sizes[-1], with (BatchNorm and) ReLU between them, none after the last."""

    def __init__(self, in_dim: int, sizes: list[int], batch_norm: bool = False):
        layers: list[nn.Module] = []
        widths = [in_dim, *sizes]
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 1:
                layers += [nn.BatchNorm1d(b), nn.ReLU()] if batch_norm else [nn.ReLU()]
        super().__init__(*layers)
        self.out_dim = widths[-1]
