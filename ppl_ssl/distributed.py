"""Data-parallel training under torchrun: PyTorch's launcher and DistributedDataParallel, nothing home-made.

    torchrun --standalone --nproc-per-node 2 experiments/fit.py --model vae --device cpu     # gloo on CPU
    torchrun --standalone --nproc-per-node 4 experiments/fit.py --model simvae              # NCCL, one GPU per rank

What each rank does (the training loop, ppl_ssl.train, uses these pieces):
- the process group comes from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT): NCCL on
  CUDA with one device per rank (cuda:LOCAL_RANK), gloo on the CPU; it is torn down on success, error and Ctrl-C;
- every rank draws the same epoch permutation (the shared seed); each step's global batch, the images a
  single-process run takes at that step, is split into `world_size` contiguous shards (`shard`: the first
  `B mod world_size` ranks take one image more); a final batch with fewer images than ranks is left out;
- the global RNG (Pyro's samples) and the augmentation generator are seeded by (seed, rank); rank 0 uses the
  single-process seeds, so a one-rank run is the single-process run;
- the system is wrapped in DistributedDataParallel (on GPUs the ResNet's batch norms become SyncBatchNorm; on the
  CPU, where SyncBatchNorm does not run, each rank normalises by its shard's statistics); each rank's loss is
  the sum over its shard times `world_size`, so DDP's average of gradients is the gradient of the global batch's
  summed loss, as in one process;
- losses that look across the batch see the global batch: SimCLR's NT-Xent takes every rank's projections as
  candidates and VICReg's variance and covariance are statistics of every rank's projections (`gather_batch`, a
  gradient-carrying all-gather); MoCo v2's and CR-VAE's queues enqueue every rank's keys in global-batch order, so
  queues and momentum networks stay identical; the step runs inside `global_batch`, which fixes the shard sizes
  from the global batch size, so nothing is read back to the host;
- the logged terms are summed over all ranks (one all-reduce per `train.log_every` steps);
- rank 0 alone writes the config, log, checkpoints, metrics and figures; checkpoints hold every rank's generator
  states, so a run resumes with the same number of ranks (another number is refused).
"""
from __future__ import annotations

import datetime
import os
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as differentiable
from torch import nn

from ppl_ssl.errors import ConfigError


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def current() -> Ranks:
    """This process's place in the process group (a single process: rank 0 of 1)."""
    if not (dist.is_available() and dist.is_initialized()):
        return Ranks()
    return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


@contextmanager
def process_group(device: str, timeout_minutes: float = 30.0) -> Iterator[Ranks]:
    """Join torchrun's process group for the duration (NCCL for CUDA devices, gloo for the CPU); without torchrun,
    a single process. A collective that waits longer than `timeout_minutes` fails (train.rank_timeout_minutes).
    The group is destroyed however the block ends."""
    if not launched_by_torchrun() or dist.is_initialized():
        yield current()
        return
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if cuda:
        if not torch.cuda.is_available():
            raise ConfigError(f"device '{device}' asked for under torchrun but CUDA is not available here; use --device cpu")
        torch.cuda.set_device(cuda_index(int(os.environ.get("LOCAL_RANK", 0))))
    dist.init_process_group("nccl" if cuda else "gloo", timeout=datetime.timedelta(minutes=timeout_minutes))
    try:
        yield current()
    finally:
        dist.destroy_process_group()


def cuda_index(local_rank: int) -> int:
    """The visible GPU of a node's rank `local_rank`. Indices count the GPUs that CUDA_VISIBLE_DEVICES leaves
    visible (CUDA renumbers them from 0), so rank r takes the r-th visible one; a node with fewer visible GPUs
    than ranks is refused in one line."""
    visible = torch.cuda.device_count()
    if local_rank >= visible:
        mask = os.environ.get("CUDA_VISIBLE_DEVICES")
        shown = f"CUDA_VISIBLE_DEVICES={mask!r} leaves {visible}" if mask is not None else f"this node has {visible}"
        raise ConfigError(f"rank with LOCAL_RANK={local_rank} needs GPU {local_rank}, but {shown} visible; run at most "
                          f"{visible} process(es) per node (--nproc-per-node {max(visible, 1)}) or make more GPUs visible")
    return local_rank


def rank_device(device: torch.device, ranks: Ranks) -> torch.device:
    """One device per rank: the LOCAL_RANK-th visible GPU under torchrun on GPUs; the CPU stays the CPU."""
    if ranks.active and device.type == "cuda":
        return torch.device("cuda", cuda_index(ranks.local_rank))
    return device


def shard(index: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """This rank's contiguous part of a global batch of indices."""
    return index.tensor_split(ranks.world_size)[ranks.rank] if ranks.active else index


def rank_seed(seed: int, ranks: Ranks) -> int:
    """A seed per (seed, rank); rank 0 keeps `seed`, so one rank is the single-process run."""
    return seed + 7919 * ranks.rank


def wrap(system: nn.Module, device: torch.device, ranks: Ranks, sync_batch_norm: bool = False) -> nn.Module:
    """The trainable module: the system itself in one process, DistributedDataParallel around it under torchrun.

    `sync_batch_norm` (train.sync_batch_norm; CUDA only) computes batch-norm statistics over the global batch. It
    is off by default: each rank sees B·J/ranks views, enough for its own statistics, and SyncBatchNorm's forward
    waits for the host once per layer (it selects by a boolean mask)."""
    if not ranks.active:
        return system
    if sync_batch_norm and device.type == "cuda":
        system = nn.SyncBatchNorm.convert_sync_batchnorm(system)
    return nn.parallel.DistributedDataParallel(system, device_ids=[device.index] if device.type == "cuda" else None)


def sum_over_ranks(tensor: torch.Tensor) -> torch.Tensor:
    if current().active:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def gather_objects(obj) -> list:
    """Every rank's `obj` (picklable), on every rank, in rank order."""
    ranks = current()
    if not ranks.active:
        return [obj]
    out: list = [None] * ranks.world_size
    dist.all_gather_object(out, obj)
    return out


def shard_sizes(size: int, world_size: int) -> tuple[int, ...]:
    """How many of a global batch's `size` rows each rank holds (`shard`'s split: the remainder to the first ranks)."""
    base, extra = divmod(size, world_size)
    return tuple(base + (rank < extra) for rank in range(world_size))


_GLOBAL_BATCH: ContextVar[tuple[int, ...] | None] = ContextVar("global_batch", default=None)


@contextmanager
def global_batch(size: int) -> Iterator[None]:
    """Within this block the batch is a global batch of `size` images split across the ranks (the trainer's step):
    `gather_batch` and `gather_rows` return every rank's rows. Outside it (evaluation, which rank 0 runs alone;
    one process) a batch is what this process holds and nothing is exchanged. The shard sizes follow from `size`,
    so they are never exchanged: no host read inside a step."""
    ranks = current()
    token = _GLOBAL_BATCH.set(shard_sizes(size, ranks.world_size) if ranks.active else None)
    try:
        yield
    finally:
        _GLOBAL_BATCH.reset(token)


def gather_batch(tensor: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(every rank's rows of `tensor` concatenated in rank order, the offset of this rank's rows among them).

    The rows are the global batch as one process would hold it (shards are contiguous). Gradients flow back
    through PyTorch's own differentiable all-gather, whose backward sums every rank's gradient for a row into the
    rank that holds it: a loss on the gathered rows trains every rank's network, as the large-batch runs of SimCLR
    and VICReg do. Outside `global_batch`, or in one process: (tensor, 0)."""
    sizes = _GLOBAL_BATCH.get()
    if sizes is None:
        return tensor, 0
    rank = current().rank
    if len(tensor) != sizes[rank]:
        raise RuntimeError(f"rank {rank} holds {len(tensor)} rows of a global batch that gives it {sizes[rank]}: "
                           f"gather only tensors with a row per image of this rank's shard")
    missing = max(sizes) - len(tensor)  # all_gather needs equal shapes: pad the shorter shards, trim after
    padded = torch.cat([tensor, tensor.new_zeros((missing, *tensor.shape[1:]))]) if missing else tensor.contiguous()
    if tensor.requires_grad and torch.is_grad_enabled():
        parts = differentiable.all_gather(padded)
    else:
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded)
    return torch.cat([part[:size] for part, size in zip(parts, sizes)]), sum(sizes[:rank])


def gather_rows(tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's rows of `tensor` in global-batch order (see `gather_batch`); the key queues enqueue these."""
    return gather_batch(tensor)[0]


def check_replicas_agree(module: nn.Module) -> None:
    """Every rank must hold the same parameters and buffers (DDP's promise; the queues' and momentum networks'
    too): a checksum per tensor, compared across ranks; a divergence stops the run with the first differing name."""
    ranks = current()
    if not ranks.active:
        return
    # batch norms' running statistics are left out: each rank updates them from its shard, and DDP replaces them
    # by rank 0's at every forward (on GPUs SyncBatchNorm keeps them equal anyway)
    running = ("running_mean", "running_var", "num_batches_tracked")
    names, tensors = zip(*[(k, v) for k, v in module.state_dict().items()
                           if (v.is_floating_point() or v.dtype == torch.long) and not k.endswith(running)])
    local = torch.stack([t.detach().double().sum() for t in tensors])
    gathered = [torch.empty_like(local) for _ in range(ranks.world_size)]
    dist.all_gather(gathered, local)
    for other, values in enumerate(gathered):
        differing = (values != local).nonzero()
        if len(differing):
            raise RuntimeError(f"rank {ranks.rank} and rank {other} disagree on '{names[int(differing[0])]}': the replicas "
                               f"diverged; please report this with the command that ran")


def agree(decision: bool) -> bool:
    """Rank 0's decision, on every rank (e.g. whether to write a checkpoint now, which depends on rank 0's clock)."""
    if not current().active:
        return decision
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    flag = torch.tensor([float(decision)], device=device)  # NCCL exchanges CUDA tensors only
    dist.broadcast(flag, src=0)
    return bool(flag.item())


def barrier() -> None:
    if current().active:
        dist.barrier()
