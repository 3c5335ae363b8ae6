"""The validation split's loss (the training loss, or what the method watches instead: `Method.validation_loss`), for
`train.keep_best`, early stopping and schedules that adapt to it (`schedule.kind = plateau`)."""
from __future__ import annotations

import torch

from ppl_ssl import distributed
from ppl_ssl.augment import Augmenter
from ppl_ssl.data import DataSplits, as_float


@torch.no_grad()
def validation_loss(system, data: DataSplits, config, seed: int = 0) -> float:
    """The watched loss (`Method.validation_loss`) per view on the validation images, each with J views from a
    generator of its own (the same views at every epoch), computed without touching the training's random state; the
    same number on every rank."""
    views, batch, device = config.model.views, config.train.batch_size, data.val_x.device
    augmenter = Augmenter(config.augment, seed=seed, device=device)
    was_training = system.training
    system.eval()
    total = torch.zeros((), device=device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.random.default_generator.manual_seed(seed)
        if device.type == "cuda":
            torch.cuda.manual_seed(seed)
        for start in range(0, len(data.val_x), batch):
            images = as_float(data.val_x[start : start + batch])
            loss = system.validation_loss(augmenter(images, views).images)
            total += loss.detach().float()
    system.train(was_training)
    mean = total / (len(data.val_x) * views)
    return float(distributed.sum_over_ranks(mean) / distributed.current().world_size)
