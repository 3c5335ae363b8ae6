"""Momentum contrast (He et al. 2020): keys from a slowly moving (EMA) copy of a network, negatives from a FIFO
queue of past keys. Used by MoCo v2 and by CR-VAE's contrastive term.

Order within a training step, as the trainer runs it: forward (loss against the current queue; this batch's keys
are held back) → optimiser step → `after_step`: EMA update of the key network from the just-updated online
network, then the held-back keys enter the queue. Nothing changes if no optimiser step follows a forward pass.
The queue is a buffer, so checkpoints save it and a resumed run continues with the same negatives.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ppl_ssl import distributed
from ppl_ssl.contrastive.losses import info_nce


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy whose parameters take no gradient (they are moved only by `momentum_update`)."""
    target = copy.deepcopy(module)
    target.requires_grad_(False)
    return target


@torch.no_grad()
def momentum_update(target: nn.Module, source: nn.Module, momentum: float) -> None:
    """θ_target ← m·θ_target + (1 − m)·θ_source for every parameter (buffers, e.g. BatchNorm statistics, are the
    target's own). The two modules must have the same architecture."""
    for t, s in zip(target.parameters(), source.parameters(), strict=True):
        t.mul_(momentum).add_(s.detach(), alpha=1.0 - momentum)


class KeyQueue(nn.Module):
    """A FIFO ring buffer of `size` L2-normalised keys; the oldest keys are overwritten first.

    It starts full of random unit vectors, as MoCo's does, so the loss has negatives from the first step."""

    def __init__(self, size: int, dim: int):
        super().__init__()
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))  # index of the oldest key

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        keys = F.normalize(keys.detach().reshape(-1, self.keys.shape[1]), dim=1)[-len(self.keys):]
        slots = (self.pointer + torch.arange(len(keys), device=keys.device)) % len(self.keys)
        self.keys[slots] = keys.to(self.keys.dtype)
        self.pointer.copy_((self.pointer + len(keys)) % len(self.keys))

    def oldest_first(self) -> torch.Tensor:
        """The keys in order of arrival (for inspection and tests)."""
        return torch.roll(self.keys, -int(self.pointer), dims=0)


class MomentumContrast(nn.Module):
    """InfoNCE of queries against keys from a momentum copy of an online network, with a queue of negatives."""

    def __init__(self, online: nn.Module, key_dim: int, queue_size: int, temperature: float, momentum: float):
        super().__init__()
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
        self.key_network = frozen_copy(online)
        self.queue = KeyQueue(queue_size, key_dim)
        self.temperature, self.momentum = temperature, momentum
        self._pending: torch.Tensor | None = None

    def forward(self, query: torch.Tensor, key_views: torch.Tensor) -> torch.Tensor:
        """query (..., N, D) against keys of key_views (N, K, C, H, W), K ≥ 1: InfoNCE per datum (...,  N),
        averaged over the K positives. The keys of the first key view wait for `after_step` to enter the queue."""
        n, k = key_views.shape[:2]
        with torch.no_grad():
            keys = self.key_network(key_views.flatten(0, 1)).unflatten(0, (n, k))    # (N, K, D)
        negatives = self.queue.keys.clone()  # a snapshot: `after_step` may overwrite the buffer before backward
        losses = [info_nce(query, keys[:, i], negatives, self.temperature) for i in range(k)]
        self._pending = keys[:, 0]
        return torch.stack(losses).mean(0)

    @torch.no_grad()
    def after_step(self, online: nn.Module) -> None:
        """After an optimiser step: move the key network towards `online`, then enqueue the held-back keys."""
        momentum_update(self.key_network, online, self.momentum)
        if self._pending is not None:
            self.queue.enqueue(distributed.gather_rows(self._pending))  # under torchrun: every rank's keys, in order
            self._pending = None
