"""Checkpoints of the training loop: everything its future depends on, so a resume continues exactly.

A checkpoint holds the weights and buffers (key queues included), the optimiser's moments, the data-order
generator as it was at the epoch's start, every rank's augmentation generator and global RNG state, the
per-epoch history and, for a mid-epoch checkpoint, the step to continue at and what the epoch had summed so far.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ppl_ssl import distributed
from ppl_ssl.contracts import Schedule
from ppl_ssl.errors import ConfigError
from ppl_ssl.optim import Constant
from ppl_ssl.runtime import rng_state, set_rng_state
from ppl_ssl.storage import RunPaths, atomic_torch_save, atomic_write_json, atomic_write_text, load_checkpoint, load_weights, read_log_lines


@dataclass
class EpochProgress:
    """What an epoch has trained so far: images, per-term sums (weighted by images), seconds before a resume."""
    seen: int = 0
    totals: dict = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, record: dict, images: int) -> None:
        """One logged step's terms (per view) over `images` images."""
        self.seen += images
        for k, v in record.items():
            if k != "step":
                self.totals[k] = self.totals.get(k, 0.0) + v * images

    def means(self) -> dict:
        return {k: v / self.seen for k, v in self.totals.items()}

    def plus_seconds(self, seconds: float) -> "EpochProgress":
        return dataclasses.replace(self, totals=dict(self.totals), seconds=self.seconds + seconds)


@dataclass
class Position:
    """Where training continues: the history so far, the epoch, the step within it and that epoch's progress."""
    history: list = field(default_factory=list)
    epoch: int = 0
    step: int = 0
    progress: EpochProgress = field(default_factory=EpochProgress)


class Checkpointer:
    """Writes the loop's checkpoint (rank 0, atomically) and restores every rank from it."""

    def __init__(self, paths: RunPaths, system, optimiser, augmenter, order: torch.Generator, ranks: distributed.Ranks,
                 device: torch.device | str = "cpu", schedule: Schedule | None = None):
        self.paths, self.system, self.optimiser, self.augmenter, self.order, self.ranks = \
            paths, system, optimiser, augmenter, order, ranks
        self.device = torch.device(device)
        self.schedule = schedule if schedule is not None else Constant()
        self.trained_with: dict = {}  # the run's resolved config, saved in each checkpoint (see check_resumable)

    def restore(self, device: torch.device, state: dict | None = None) -> Position:
        """Load the checkpoint (or its already read `state`) into the system, optimiser and generators; where the
        loop continues.

        It is read to the CPU: the weights and the optimiser's moments are copied to where their parameters live
        (`load_state_dict` does that), and generator states must stay CPU byte tensors."""
        state = state if state is not None else load_checkpoint(self.paths.checkpoint)
        saved_ranks = state.get("world_size", 1)
        if saved_ranks != self.ranks.world_size:
            raise ConfigError(f"run {self.paths.root} was trained with {saved_ranks} rank(s) and is resumed with "
                              f"{self.ranks.world_size}: every rank's data shard and generators depend on the number; "
                              f"resume with --nproc-per-node {saved_ranks} (or without torchrun for 1)")
        load_weights(self.system, state["system"], self.paths.checkpoint)
        load_weights(self.optimiser, state["optimiser"], self.paths.checkpoint)
        self.order.set_state(state["order"])
        self.schedule.load_state_dict(state.get("schedule", {}))
        own = state["rank_states"][self.ranks.rank] if self.ranks.active else state
        self.augmenter.load_state_dict(own["augmenter"])
        set_rng_state(own["rng"], device)
        return Position(state["history"], state["epoch"], state.get("step", 0),  # step > 0: a mid-epoch checkpoint
                        EpochProgress(**state.get("epoch_progress", {})))

    def save(self, position: Position, order_at_epoch_start: torch.Tensor) -> None:
        """A checkpoint from which training continues at `position` (step 0: the epoch's start)."""
        distributed.check_replicas_agree(self.system)
        rank_states = distributed.gather_objects({"augmenter": self.augmenter.state_dict(), "rng": rng_state(self.device)})
        if self.ranks.is_main:
            atomic_torch_save(self.paths.checkpoint, {
                "system": self.system.state_dict(), "optimiser": self.optimiser.state_dict(),
                "schedule": self.schedule.state_dict(),
                "order": order_at_epoch_start,  # the data-order generator before drawing this epoch's permutation
                **rank_states[0], "world_size": self.ranks.world_size,
                **({"rank_states": rank_states} if self.ranks.active else {}),
                "history": position.history, "epoch": position.epoch, "step": position.step, "config": self.trained_with,
                "epoch_progress": dataclasses.asdict(position.progress)})
            atomic_write_json(self.paths.history, position.history)
        distributed.barrier()  # no rank runs ahead of a checkpoint it might resume from


def check_resumable(config, state: dict, paths: RunPaths) -> None:
    """Refuse, in one line and before anything is written, a resume that would make the run folder describe something
    other than what ran: fewer epochs than already trained, or a config.toml edited since the checkpoint in a setting
    that changes what the weights mean or how they go on training (learning rate, schedule, shapes, ...). Checkpoints
    written before the config was saved in them are checked for the epochs only."""
    from ppl_ssl.config import listed_differences, trained_differences

    trained = state["epoch"] + (1 if state.get("step") else 0)  # a mid-epoch checkpoint is inside the next epoch
    if config.train.epochs < trained:
        raise ConfigError(f"run {paths.root} has trained {state['epoch']} epoch(s){' and part of the next' if state.get('step') else ''}; "
                          f"train.epochs = {config.train.epochs} would shrink it and leave config.toml describing a "
                          f"shorter run: pass --epochs {trained} or more")
    if state.get("config"):
        differences = trained_differences(state["config"], config)
        if differences:
            listed = listed_differences(differences, "trained with", "now")
            raise ConfigError(f"run {paths.root} was trained with other settings than its config now gives: {listed}; "
                              f"put the trained values back in {paths.config} (the learning rate and schedule too: the "
                              f"optimiser's state belongs to them), or start a new run with another --out")


def truncate_log(path: Path, next_step: int) -> None:
    """Drop log lines of steps the resumed run will redo (those at or after the checkpoint's global step)."""
    if path.exists():
        keep = [line for line, record in read_log_lines(path) if record["step"] < next_step]
        atomic_write_text(path, "".join(line + "\n" for line in keep))
