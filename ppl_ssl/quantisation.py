"""A codebook of K entries for vector quantisation (van den Oord et al. 2017, VQ-VAE), entries initialised uniformly
in ±1/K as Pythae does. A code of L numbers is quantised in pieces of `entry_dim`: the whole code to one entry
(entry_dim = L, one latent position of the paper), or each coordinate to its own scalar entry (entry_dim = 1, what
Pythae 0.1.2 does with a flat code: its reshape to (N, 1, 1, L) and permute make the embedding dimension 1)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Codebook(nn.Module):
    def __init__(self, entries: int, dim: int, entry_dim: int | None = None):
        super().__init__()
        entry_dim = entry_dim or dim
        if dim % entry_dim:
            raise ValueError(f"a code of {dim} numbers cannot be cut into pieces of {entry_dim}")
        self.pieces = dim // entry_dim
        self.entries = nn.Parameter(torch.empty(entries, entry_dim).uniform_(-1.0 / entries, 1.0 / entries))

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """The entry closest (Euclidean) to each piece of each code of z (..., L): the quantised codes, same shape."""
        flat = z.reshape(-1, self.entries.shape[1])
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
        """n codes of entries drawn uniformly and independently per piece: the VQ-VAE's prior over codes (a uniform
        categorical), (n, L)."""
        drawn = torch.randint(len(self.entries), (n, self.pieces), device=self.entries.device)
        return self.entries[drawn].reshape(n, -1).detach()
