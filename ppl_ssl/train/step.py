"""One training step, the same for `fit` and for every benchmark that times a step.

Images (a rank's shard of the global batch, uint8 on the device) become J augmented views; the system's loss is
computed, its gradient taken, clipped if asked, and Adam steps (a part the loss paused left as it was); then the
system's after-step hook runs (momentum encoders, queues). Nothing waits for the host: the terms, the gradient norm
among them, stay on the device.
"""
from __future__ import annotations

import torch

from ppl_ssl import distributed
from ppl_ssl.augment import Augmenter
from ppl_ssl.data import as_float


def gradient_norm(system: torch.nn.Module, max_norm: float) -> torch.Tensor:
    """The total gradient norm, a tensor left on the device (the divergence guard reads it with the terms); the
    gradients are clipped to `max_norm` first if it is positive."""
    grads = [p for p in system.parameters() if p.grad is not None]
    if max_norm > 0:
        return torch.nn.utils.clip_grad_norm_(grads, max_norm, foreach=True)
    if hasattr(torch.nn.utils, "get_total_norm"):  # torch ≥ 2.6 (a feature of the installed torch, not of a component)
        return torch.nn.utils.get_total_norm([p.grad for p in grads], foreach=True)
    return torch.nn.utils.clip_grad_norm_(grads, float("inf"), foreach=True)  # the norm; scales by 1


def held_parts(optimiser: torch.optim.Optimizer, parts: list[tuple[list[torch.nn.Parameter], torch.Tensor]]) -> list:
    """Each paused part's parameters as they are before the optimiser's step, with their optimiser state (momenta,
    step counts: tensors copied; a parameter with no state yet holds none), for `put_back`."""
    return [(weight, train, weight.detach().clone(),
             {key: value.clone() for key, value in optimiser.state.get(weight, {}).items() if torch.is_tensor(value)})
            for parameters, train in parts for weight in parameters]


@torch.no_grad()
def put_back(optimiser: torch.optim.Optimizer, held: list) -> None:
    """After the step: each held parameter whose part's flag is 0 gets its weights and optimiser state back, as if the
    optimiser had skipped it (Pythae steps each part with its own optimiser and skips a paused part's); state it had
    none of goes back to zeros, the optimisers' starting state. A device-side choice: no host synchronisation."""
    for weight, train, before, state_before in held:
        keep = train.to(device=weight.device, dtype=torch.bool)
        weight.copy_(torch.where(keep, weight, before))
        for key, value in optimiser.state.get(weight, {}).items():
            if torch.is_tensor(value):
                old = state_before.get(key)
                value.copy_(torch.where(keep.to(value.device), value, torch.zeros_like(value) if old is None else old))


class TrainStep:
    """step(images, kl_weight, global_batch) -> the step's terms, summed over this rank's views (device tensors).

    `trainable` is what computes the loss: the system, or its DistributedDataParallel wrapper under torchrun.
    The loss sums over this rank's shard and DDP averages gradients over ranks, so it is scaled by the number of
    ranks: the gradient is that of the global batch's sum, as in one process. With `loss_reduction="mean"` it is
    divided by the global batch's images: the gradient of the per-image mean (the CR-VAE code's, which its SGD
    learning rate is set for; Adam barely notices the scale)."""

    def __init__(self, system: torch.nn.Module, optimiser: torch.optim.Optimizer, augmenter: Augmenter, views: int,
                 max_grad_norm: float = 0.0, trainable: torch.nn.Module | None = None,
                 ranks: distributed.Ranks | None = None, loss_reduction: str = "sum"):
        self.system, self.optimiser, self.augmenter, self.views = system, optimiser, augmenter, views
        self.max_grad_norm = max_grad_norm
        self.mean_over_batch = loss_reduction == "mean"
        self.trainable = trainable if trainable is not None else system
        self.ranks = ranks if ranks is not None else distributed.current()

    def __call__(self, images: torch.Tensor, kl_weight: float | None = None, global_batch: int | None = None) -> dict:
        global_batch = len(images) if global_batch is None else global_batch
        views = self.augmenter(as_float(images), self.views).images
        world_size = self.ranks.world_size
        with distributed.global_batch(global_batch):  # losses and queues that look across it see all ranks
            loss, terms = self.trainable(views, kl_weight)
            self.optimiser.zero_grad(set_to_none=True)
            scale = (world_size if self.ranks.active else 1) / (global_batch if self.mean_over_batch else 1)
            (loss * scale if scale != 1 else loss).backward()
            grad_norm = gradient_norm(self.system, self.max_grad_norm)
            held = held_parts(self.optimiser, self.system.paused_parts()) if self.system.pauses_parts else []
            self.optimiser.step()
            if held:
                put_back(self.optimiser, held)
            self.system.after_step()
        # the norm is the same on every rank; logged like the terms, which are summed over ranks per view
        return {**terms, "grad_norm": grad_norm * (global_batch * self.views / world_size)}
