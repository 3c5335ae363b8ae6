"""The training loop: for each epoch, each batch: one `TrainStep`; every `train.log_every` steps the terms are read
(the loop's only host synchronisation), logged and guarded; checkpoints at epoch ends and every
`train.checkpoint_minutes`. Resuming continues exactly as if the run had not stopped (`checkpoint`).

Under torchrun every rank runs this loop on its shard of each batch; `ppl_ssl.distributed` says what each rank
does, and rank 0 alone writes, holding the run folder's lock (`storage.run_lock`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from pathlib import Path
from typing import Callable

import pyro
import torch

from ppl_ssl import distributed, faults
from ppl_ssl.augment import Augmenter
from ppl_ssl.data import DataSplits
from ppl_ssl.errors import ConfigError
from ppl_ssl.runtime import keep_freed_memory, resolve_device, seed_everything
from ppl_ssl.storage import RunPaths, atomic_torch_save, load_checkpoint, run_lock
from ppl_ssl.system import build_system, check_data_fits
from ppl_ssl.term_log import PendingTerms
from ppl_ssl.train.checkpoint import Checkpointer, EpochProgress, Position, check_resumable, truncate_log
from ppl_ssl.train.graph import GraphedTrainStep, check_graph_config
from ppl_ssl.train.guard import check_divergence
from ppl_ssl.optim import build_schedule, set_learning_rate
from ppl_ssl.train.setup import load_data_for, make_optimiser, prepare_system
from ppl_ssl.train.tracking import tracked_scores
from ppl_ssl.train.validation import validation_loss
from ppl_ssl.train.sinks import Sinks
from ppl_ssl.trackers import Tracker
from ppl_ssl.train.step import TrainStep

EpochCallback = Callable[[int, dict], None]


def fit(config, out: str | Path, resume: bool = False, data: DataSplits | None = None,
        on_epoch_end: EpochCallback | None = None, progress: bool = True,
        trackers: list[Tracker] = ()) -> tuple[torch.nn.Module, DataSplits]:
    """Train the system a config describes into run folder `out`; returns the trained system and its data.
    `on_epoch_end(epoch, summary)` is called after each epoch's checkpoint; `trackers` (ppl_ssl.trackers.Tracker)
    hear the steps and epochs beside the ones the config asks for."""
    ranks = distributed.current()
    with run_lock(Path(out)) if ranks.is_main else contextlib.nullcontext():
        paths = RunPaths(Path(out))
        if paths.checkpoint.exists() and not resume:
            raise ConfigError(f"run folder {paths.root} already holds a checkpoint; pass --resume to continue it or "
                              f"--out for a new run")
        saved = load_checkpoint(paths.checkpoint) if resume and paths.checkpoint.exists() else None
        if saved is not None:
            check_resumable(config, saved, paths)  # before anything is built or written
        device = distributed.rank_device(resolve_device(config.train.device), ranks)
        if config.train.cuda_graph:
            check_graph_config(config, device, ranks.active)
        if config.train.keep_freed_memory:
            keep_freed_memory()
        seed_everything(distributed.rank_seed(config.train.seed, ranks))
        data = (data or load_data_for(config, device)).to(device)
        system = prepare_system(build_system(config, data.spec.image_shape).to(device), config, device)
        if system.can_decode:  # the system scores pixels with model.likelihood: it must suit the data
            check_data_fits(config, binary_data=bool(((data.train_x == 0) | (data.train_x == 255)).all()))
        optimiser, schedule = make_optimiser(system, config), build_schedule(config)
        augmenter = Augmenter(config.augment, seed=distributed.rank_seed(config.train.seed + 1, ranks), device=device)
        order = torch.Generator().manual_seed(config.train.seed + 2)  # the same epoch permutation on every rank
        checkpoints = Checkpointer(paths, system, optimiser, augmenter, order, ranks, device, schedule)
        position = checkpoints.restore(device, saved) if saved is not None else Position()
        if config.train.precision == "auto":  # the run records what `auto` became here: it resumes and reloads alike
            config = dataclasses.replace(config, train=dataclasses.replace(config.train, precision=system.precision))
        checkpoints.trained_with = config.to_dict()
        if ranks.is_main:
            config.save(paths.config)
        step = TrainStep(system, optimiser, augmenter, config.model.views, config.train.max_grad_norm,
                         trainable=distributed.wrap(system, device, ranks, config.train.sync_batch_norm), ranks=ranks,
                         loss_reduction=config.train.loss_reduction)
        if config.train.cuda_graph:
            step = GraphedTrainStep(step)
        _train(config, data, system, step, checkpoints, position, paths, ranks, resume, on_epoch_end, progress,
               list(trackers))
        system.eval()
        return system, data


def _train(config, data: DataSplits, system, step: TrainStep | GraphedTrainStep, checkpoints: Checkpointer, position: Position,
           paths: RunPaths, ranks: distributed.Ranks, resume: bool, on_epoch_end: EpochCallback | None,
           progress: bool,
           trackers: list[Tracker]) -> None:
    train = config.train
    n, batch, views = len(data.train_x), train.batch_size, config.model.views
    steps_per_epoch = math.ceil(n / batch)
    first_global_step = position.epoch * steps_per_epoch + position.step
    if ranks.is_main and resume:
        truncate_log(paths.log, first_global_step)  # the steps after the checkpoint are redone
    parameters_at_start = len(list(system.parameters()))
    pending, history = PendingTerms(), position.history
    sinks = Sinks(config, paths, ranks.is_main, progress, first_global_step, trackers)
    last_saved = time.perf_counter()
    system.train()
    try:
        with pyro.validation_enabled(train.validate), torch.autograd.set_detect_anomaly(train.detect_anomaly):
            finished = any(h.get("stopped_early") for h in history)  # early stopping ended it: nothing to resume
            for epoch in range(position.epoch, train.epochs if not finished else position.epoch):
                started = time.perf_counter()
                resumed_here = epoch == position.epoch
                done = position.progress if resumed_here else EpochProgress()  # images and term sums so far
                at_epoch_start = checkpoints.order.get_state()
                permutation = torch.randperm(n, generator=checkpoints.order).to(data.train_x.device)
                first = position.step if resumed_here else 0
                for index_in_epoch in sinks.steps(epoch, train.epochs, first, steps_per_epoch):
                    index = permutation[index_in_epoch * batch : (index_in_epoch + 1) * batch]  # the global batch
                    if len(index) >= ranks.world_size:  # else too few images to give every rank one: left out
                        epochs_done = epoch + index_in_epoch / steps_per_epoch
                        lr = train.lr * checkpoints.schedule.factor(epochs_done)
                        set_learning_rate(checkpoints.optimiser, lr)
                        terms = step(data.train_x[distributed.shard(index, ranks)], system.kl_weight_at(epochs_done),
                                     len(index))
                        faults.point("step")
                        pending.add(epoch * steps_per_epoch + index_in_epoch, terms, len(index) * views, {"lr": lr})
                    if (index_in_epoch + 1) % train.log_every == 0 or index_in_epoch + 1 == steps_per_epoch:
                        records = pending.drain(distributed.sum_over_ranks)  # the only host synchronisation of the loop
                        for record in records:
                            done.add(record, record.pop("views") // views)
                        sinks.records(epoch, records)
                        check_divergence(records, train.divergence_bound, paths, epoch, steps_per_epoch)
                        minutes = train.checkpoint_minutes
                        if minutes and index_in_epoch + 1 < steps_per_epoch and \
                                distributed.agree(time.perf_counter() - last_saved >= 60 * minutes):
                            sinks.flush()
                            partial = done.plus_seconds(time.perf_counter() - started)
                            checkpoints.save(Position(history, epoch, index_in_epoch + 1, partial), at_epoch_start)
                            last_saved = time.perf_counter()
                    if index_in_epoch == first and len(list(system.parameters())) != parameters_at_start:
                        raise RuntimeError("a parameter was created after the optimiser (and DDP) took the system's "
                                           "parameters; create every parameter in the module's __init__")
                summary = {"epoch": epoch + 1, "seconds": done.seconds + time.perf_counter() - started, **done.means()}
                if train.validation_loss or train.keep_best or train.early_stopping_patience or \
                        checkpoints.schedule.needs_validation_loss:
                    summary["validation_loss"] = validation_loss(system, data, config)
                checkpoints.schedule.epoch_end(summary)
                if train.track_every and ((epoch + 1) % train.track_every == 0 or epoch + 1 == train.epochs):
                    tracking_started = time.perf_counter()
                    summary.update(tracked_scores(system, data, config, seed=train.seed))
                    summary["tracking_seconds"] = time.perf_counter() - tracking_started
                history.append(summary)
                if train.keep_best and ranks.is_main and _epochs_since_lowest(history) == 0:  # keep_best: a loss each epoch
                    atomic_torch_save(paths.best, {"system": system.state_dict(), "epoch": epoch + 1,
                                                   "validation_loss": summary["validation_loss"]})
                sinks.epoch(summary, train.epochs, (epoch + 1) * steps_per_epoch)
                stop = bool(train.early_stopping_patience) and _epochs_since_lowest(history) >= train.early_stopping_patience
                if stop:
                    summary["stopped_early"] = True  # in the history: a resume knows the run is finished
                if epoch + 1 == train.epochs or (epoch + 1) % train.checkpoint_every == 0 or stop:
                    checkpoints.save(Position(history, epoch + 1), checkpoints.order.get_state())
                    last_saved = time.perf_counter()
                if on_epoch_end is not None:
                    on_epoch_end(epoch + 1, summary)
                if stop:
                    sinks.note(f"stopped early after epoch {epoch + 1}: no lower validation loss for "
                               f"{train.early_stopping_patience} epoch(s)")
                    break
    finally:
        sinks.close()


def _epochs_since_lowest(history: list[dict]) -> int:
    """Epochs since the lowest validation loss so far (0: this epoch's is; a tie is not lower)."""
    losses = [(h["epoch"], h["validation_loss"]) for h in history if "validation_loss" in h]
    if not losses:
        return 0
    best_epoch = min(losses, key=lambda pair: pair[1])[0]
    return history[-1]["epoch"] - best_epoch
