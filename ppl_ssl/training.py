"""The training loop: augment a batch into J views, take one optimiser step on the system's loss (the SVI
objective of a generative system, or a discriminative method's loss), run the system's after-step hook
(momentum updates, queues), log, checkpoint.

Inside a step nothing waits for the host: the terms stay on the device (`ppl_ssl.term_log`) and are read every
`train.log_every` steps; the data, the epoch's permutation and the augmentation live on the training device.
The nets compute in the precision of `train.precision` (`ppl_ssl.precision`); log-densities stay fp32.

Checkpoints are written atomically at the end of every `train.checkpoint_every` epochs and hold everything the
loop's future depends on (weights and buffers such as key queues, optimiser moments, the augmentation and
data-order generators, the global RNG), so `resume=True` after a kill continues exactly as if the run had not stopped.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Callable

import pyro
import torch
from tqdm.auto import tqdm

from ppl_ssl import distributed, faults
from ppl_ssl.augment import Augmenter
from ppl_ssl.config import Config
from ppl_ssl.data import DataSplits, as_float, load_dataset
from ppl_ssl.errors import ConfigError, TrainingDiverged
from ppl_ssl.inference import kl_weight
from ppl_ssl.precision import apply_precision, outermost_nets, precision_name, resolve_precision
from ppl_ssl.runs import RunPaths, atomic_torch_save, atomic_write_json, atomic_write_text, load_checkpoint, run_lock
from ppl_ssl.runtime import keep_freed_memory, resolve_device, rng_state, seed_everything, set_rng_state
from ppl_ssl.system import build_system, check_data_fits
from ppl_ssl.tensorboard_log import TensorBoardLog
from ppl_ssl.term_log import PendingTerms

EpochCallback = Callable[[int, dict], None]


def load_data_for(config: Config, device: torch.device) -> DataSplits:
    d = config.data
    return load_dataset(d.dataset, d.data_dir, d.val_size, d.train_subset, d.split_seed, device, d.image_size)


def make_optimiser(system: torch.nn.Module, config: Config) -> torch.optim.Optimizer:
    """Adam, fused (one kernel over all parameters) where torch has it for the device: on the 2-core CPU the
    for-loop Adam takes about 5 ms of a VAE step's 25 ms over the paper's MLPs (3.4M parameters), the fused one 1.4 ms."""
    parameters = list(system.parameters())  # frozen ones (momentum copies) too: they keep no state, as before
    try:
        return torch.optim.Adam(parameters, lr=config.train.lr, eps=config.train.adam_eps, fused=True)
    except (RuntimeError, TypeError):  # torch < 2.4 on a CPU, or a device without the fused kernel
        return torch.optim.Adam(parameters, lr=config.train.lr, eps=config.train.adam_eps)


def fit(config: Config, out: str | Path, resume: bool = False, data: DataSplits | None = None,
        on_epoch_end: EpochCallback | None = None, progress: bool = True) -> tuple[torch.nn.Module, DataSplits]:
    """Train the system a config describes into run folder `out`; returns the trained system and its data.

    Under torchrun every rank calls this; ppl_ssl.distributed says what each rank does. The writer (rank 0) holds
    the run folder's lock throughout (`runs.run_lock`)."""
    with run_lock(Path(out)) if distributed.current().is_main else contextlib.nullcontext():
        return _fit(config, out, resume, data, on_epoch_end, progress)


def _fit(config: Config, out: str | Path, resume: bool, data: DataSplits | None, on_epoch_end: EpochCallback | None,
         progress: bool) -> tuple[torch.nn.Module, DataSplits]:
    paths = RunPaths(Path(out))
    ranks = distributed.current()
    if paths.checkpoint.exists() and not resume:
        raise ConfigError(f"run folder {paths.root} already holds a checkpoint; pass --resume to continue it or --out for a new run")
    device = distributed.rank_device(resolve_device(config.train.device), ranks)
    if config.train.keep_freed_memory:
        keep_freed_memory()
    seed_everything(distributed.rank_seed(config.train.seed, ranks))
    data = (data or load_data_for(config, device)).to(device)
    system = prepare_system(build_system(config, data.spec.image_shape).to(device), config, device)
    if system.can_decode:  # the system scores pixels with model.likelihood: it must suit the data
        check_data_fits(config, binary_data=bool(((data.train_x == 0) | (data.train_x == 255)).all()))
    optimiser = make_optimiser(system, config)
    augmenter = Augmenter(config.augment, seed=distributed.rank_seed(config.train.seed + 1, ranks), device=device)
    order = torch.Generator().manual_seed(config.train.seed + 2)  # the same epoch permutation on every rank
    history: list[dict] = []
    start_epoch, start_step, progress_in_epoch = 0, 0, EpochProgress()
    if resume and paths.checkpoint.exists():
        state = load_checkpoint(paths.checkpoint, device)
        saved_ranks = state.get("world_size", 1)
        if saved_ranks != ranks.world_size:
            raise ConfigError(f"run {paths.root} was trained with {saved_ranks} rank(s) and is resumed with {ranks.world_size}: "
                              f"every rank's data shard and generators depend on the number; resume with "
                              f"--nproc-per-node {saved_ranks} (or without torchrun for 1)")
        system.load_state_dict(state["system"])
        optimiser.load_state_dict(state["optimiser"])
        order.set_state(state["order"])
        own = state["rank_states"][ranks.rank] if ranks.active else state
        augmenter.load_state_dict(own["augmenter"])
        set_rng_state(own["rng"])
        history, start_epoch = state["history"], state["epoch"]
        start_step = state.get("step", 0)  # a mid-epoch checkpoint: continue the epoch at this step
        progress_in_epoch = EpochProgress(**state.get("epoch_progress", {}))
    if config.train.precision == "auto":  # the run records what `auto` became here, so it resumes and reloads alike
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, precision=system.precision))
    if ranks.is_main:
        config.save(paths.config)
    trainable = distributed.wrap(system, device, ranks)  # DistributedDataParallel under torchrun, else the system
    parameters_at_start = len(list(system.parameters()))

    n, batch, views = len(data.train_x), config.train.batch_size, config.model.views
    steps_per_epoch = math.ceil(n / batch)
    if ranks.is_main and resume:
        _truncate_log(paths.log, start_epoch * steps_per_epoch + start_step)  # the steps after the checkpoint are redone

    def save(epoch: int, step: int, at_epoch_start: dict, done: EpochProgress) -> None:
        """A checkpoint from which training continues at `step` of `epoch` (step 0: the epoch's start)."""
        distributed.check_replicas_agree(system)
        rank_states = distributed.gather_objects({"augmenter": augmenter.state_dict(), "rng": rng_state()})
        if ranks.is_main:
            atomic_torch_save(paths.checkpoint, {
                "system": system.state_dict(), "optimiser": optimiser.state_dict(),
                "order": at_epoch_start,  # the data-order generator before drawing this epoch's permutation
                **rank_states[0], "world_size": ranks.world_size, **({"rank_states": rank_states} if ranks.active else {}),
                "history": history, "epoch": epoch, "step": step, "epoch_progress": dataclasses.asdict(done)})
            atomic_write_json(paths.history, history)
        distributed.barrier()  # no rank runs ahead of a checkpoint it might resume from

    pending = PendingTerms()
    board = TensorBoardLog(paths.tensorboard, purge_step=start_epoch * steps_per_epoch + start_step) \
        if config.train.tensorboard and ranks.is_main else None
    last_saved = time.perf_counter()
    system.train()
    with (open(paths.log, "a") if ranks.is_main else contextlib.nullcontext()) as log, \
            pyro.validation_enabled(config.train.validate), torch.autograd.set_detect_anomaly(config.train.detect_anomaly):
        for epoch in range(start_epoch, config.train.epochs):
            started = time.perf_counter()
            done = progress_in_epoch if epoch == start_epoch else EpochProgress()  # images and term sums so far
            at_epoch_start = order.get_state()
            permutation = torch.randperm(n, generator=order).to(device)
            first = start_step if epoch == start_epoch else 0
            bar = tqdm(range(first, steps_per_epoch), desc=f"epoch {epoch + 1}/{config.train.epochs}", initial=first,
                       total=steps_per_epoch, disable=not (progress and ranks.is_main), leave=False, dynamic_ncols=True)
            for step in bar:
                index = permutation[step * batch : (step + 1) * batch]  # the global batch
                if len(index) >= ranks.world_size:  # else too few images to give every rank one: left out
                    x = augmenter(as_float(data.train_x[distributed.shard(index, ranks)]), views).images
                    system.set_kl_weight(kl_weight(config.model.beta, config.train.kl_warmup_epochs, epoch + step / steps_per_epoch))
                    with distributed.global_batch(len(index)):  # losses and queues that look across it see all ranks
                        loss, terms = trainable(x)
                        optimiser.zero_grad(set_to_none=True)
                        # the loss sums over this rank's shard and DDP averages gradients over ranks: × world_size
                        # gives the gradient of the global batch's sum, as in one process
                        (loss * ranks.world_size if ranks.active else loss).backward()
                        grad_norm = gradient_norm(system, config.train.max_grad_norm)
                        optimiser.step()
                        system.after_step()
                    faults.point("step")
                    # the norm is the same on every rank; logged like the terms, which are summed over ranks per view
                    terms = {**terms, "grad_norm": grad_norm * (len(index) * views / ranks.world_size)}
                    pending.add(epoch * steps_per_epoch + step, terms, len(index) * views)
                if (step + 1) % config.train.log_every == 0 or step + 1 == steps_per_epoch:
                    records = pending.drain(distributed.sum_over_ranks)  # the only host synchronisation of the loop
                    for record in records:
                        images = record.pop("views") // views
                        if log is not None:
                            log.write(json.dumps({"epoch": epoch, **record}) + "\n")
                        done.add(record, images)
                    if board is not None:
                        board.steps(records)
                    check_divergence(records, config.train.divergence_bound, paths, epoch, steps_per_epoch)
                    if records:
                        bar.set_postfix(loss=f"{records[-1]['loss']:.3g}", refresh=False)
                    minutes = config.train.checkpoint_minutes
                    if minutes and step + 1 < steps_per_epoch and distributed.agree(time.perf_counter() - last_saved >= 60 * minutes):
                        if log is not None:
                            log.flush()
                        save(epoch, step + 1, at_epoch_start, done.plus_seconds(time.perf_counter() - started))
                        last_saved = time.perf_counter()
                if step == first and len(list(system.parameters())) != parameters_at_start:
                    raise RuntimeError("a parameter was created after the optimiser (and DDP) took the system's parameters; "
                                       "create every parameter in the module's __init__")
            if log is not None:
                log.flush()
            summary = {"epoch": epoch + 1, "seconds": done.seconds + time.perf_counter() - started, **done.means()}
            history.append(summary)
            if board is not None:
                board.epoch(summary, (epoch + 1) * steps_per_epoch)
            if progress and ranks.is_main:
                terms = ", ".join(f"{k} {v:.4g}" for k, v in summary.items() if k not in ("epoch", "seconds", "loss"))
                tqdm.write(f"epoch {epoch + 1}/{config.train.epochs}: loss/view {summary['loss']:.4g} ({terms}) "
                           f"in {summary['seconds']:.1f}s")
            if epoch + 1 == config.train.epochs or (epoch + 1) % config.train.checkpoint_every == 0:
                save(epoch + 1, 0, order.get_state(), EpochProgress())
                last_saved = time.perf_counter()
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, summary)
    if board is not None:
        board.close()
    system.eval()
    return system, data


@dataclasses.dataclass
class EpochProgress:
    """What an epoch has trained so far: images, per-term sums (weighted by images), seconds before a resume."""
    seen: int = 0
    totals: dict = dataclasses.field(default_factory=dict)
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


def check_divergence(records: list[dict], bound: float, paths: RunPaths, epoch: int, steps_per_epoch: int) -> None:
    """The divergence guard: stop with one line naming the term, where it happened, and the checkpoint kept."""
    diverged = divergence(records, bound)
    if diverged is None:
        return
    term, value, global_step = diverged
    kept = (f"the last good checkpoint ({checkpoint_position(paths)}) is kept in {paths.root}" if paths.checkpoint.exists()
            else "no checkpoint had been written yet")
    raise TrainingDiverged(f"term '{term}' became {value:.3g} per view at epoch {epoch + 1} step "
                           f"{global_step - epoch * steps_per_epoch + 1}; {kept}; try a lower --lr or set "
                           f"train.max_grad_norm (--set train.max_grad_norm=10)")


def gradient_norm(system: torch.nn.Module, max_norm: float) -> torch.Tensor:
    """The total gradient norm, a tensor left on the device (the divergence guard reads it with the terms); the
    gradients are clipped to `max_norm` first if it is positive."""
    grads = [p for p in system.parameters() if p.grad is not None]
    if max_norm > 0:
        return torch.nn.utils.clip_grad_norm_(grads, max_norm, foreach=True)
    if hasattr(torch.nn.utils, "get_total_norm"):  # torch ≥ 2.6
        return torch.nn.utils.get_total_norm([p.grad for p in grads], foreach=True)
    return torch.nn.utils.clip_grad_norm_(grads, float("inf"), foreach=True)  # the norm; scales by 1


def divergence(records: list[dict], bound: float) -> tuple[str, float, int] | None:
    """The first (term, value, step) whose value per view is non-finite or larger in size than `bound`."""
    for record in records:
        for name, value in record.items():
            if name not in ("step", "views") and not (math.isfinite(value) and abs(value) <= bound):
                return name, value, record["step"]
    return None


def checkpoint_position(paths: RunPaths) -> str:
    state = load_checkpoint(paths.checkpoint)
    return f"epoch {state['epoch']}" + (f" step {state['step']}" if state.get("step") else "")


def prepare_system(system: torch.nn.Module, config: Config, device: torch.device) -> torch.nn.Module:
    """The system as it trains and evaluates on `device`: its nets in the config's precision, compiled if asked."""
    dtype = resolve_precision(config.train.precision, device)
    apply_precision(system, dtype)
    system.precision = precision_name(dtype)  # what `auto` became here (recorded in metrics.json)
    if config.train.compile:
        for net in outermost_nets(system):
            net.compile(dynamic=False)  # in place: parameter names (and so checkpoints) stay as they are
    return system


def _truncate_log(path: Path, next_step: int) -> None:
    """Drop log lines of steps the resumed run will redo (those at or after the checkpoint's global step)."""
    if path.exists():
        keep = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] < next_step]
        atomic_write_text(path, "".join(line + "\n" for line in keep))
