"""A codebook of K code vectors for vector quantisation (van den Oord et al. 2017, VQ-VAE), as Pythae sets it: one
code vector per image when the encoder's output is flat, entries initialised uniformly in ±1/K."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Codebook(nn.Module):
    def __init__(self, entries: int, dim: int):
        super().__init__()
        self.entries = nn.Parameter(torch.empty(entries, dim).uniform_(-1.0 / entries, 1.0 / entries))

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """The entry closest (Euclidean) to each code of z (..., L): the quantised codes, same shape."""
        flat = z.reshape(-1, z.shape[-1])
        distances = flat.pow(2).sum(-1, keepdim=True) + self.entries.pow(2).sum(-1) - 2 * flat @ self.entries.T
        return self.entries[distances.argmin(-1)].reshape(z.shape)

    def straight_through(self, z: torch.Tensor) -> torch.Tensor:
        """The quantised codes' values with the identity's gradient: the decoder's gradient passes to the encoder as
        if quantisation were not there (the straight-through estimator)."""
        return z + (self.nearest(z) - z).detach()

    def losses(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(codebook loss ‖e − sg[z]‖², commitment loss ‖z − sg[e]‖²), each a mean over the codes' elements: the
        first moves the entries to the codes, the second holds the encoder to its entries."""
        quantised = self.nearest(z)
        return F.mse_loss(quantised, z.detach()), F.mse_loss(z, quantised.detach())

    def sample(self, n: int) -> torch.Tensor:
        """n entries drawn uniformly: the VQ-VAE's prior over codes (a uniform categorical), (n, L)."""
        return self.entries[torch.randint(len(self.entries), (n,), device=self.entries.device)].detach()
