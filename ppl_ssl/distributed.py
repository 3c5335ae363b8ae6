"""Data-parallel training under torchrun: PyTorch's launcher and DistributedDataParallel, nothing home-made.

    torchrun --standalone --nproc-per-node 2 experiments/fit.py --model vae --device cpu     # gloo on CPU
    torchrun --standalone --nproc-per-node 4 experiments/fit.py --model simvae              # NCCL, one GPU per rank

What each rank does (ppl_ssl.training uses these pieces):
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
- the logged terms are summed over all ranks (one all-reduce per `train.log_every` steps);
- rank 0 alone writes the config, log, checkpoints, metrics and figures; checkpoints hold every rank's generator
  states, so a run resumes with the same number of ranks (another number is refused).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist
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
def process_group(device: str) -> Iterator[Ranks]:
    """Join torchrun's process group for the duration (NCCL for CUDA devices, gloo for the CPU); without torchrun,
    a single process. The group is destroyed however the block ends."""
    if not launched_by_torchrun() or dist.is_initialized():
        yield current()
        return
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if cuda:
        if not torch.cuda.is_available():
            raise ConfigError(f"device '{device}' asked for under torchrun but CUDA is not available here; use --device cpu")
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        yield current()
    finally:
        dist.destroy_process_group()


def rank_device(device: torch.device, ranks: Ranks) -> torch.device:
    """One device per rank: cuda:LOCAL_RANK under torchrun on GPUs; the CPU stays the CPU."""
    if ranks.active and device.type == "cuda":
        return torch.device("cuda", ranks.local_rank)
    return device


def shard(index: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """This rank's contiguous part of a global batch of indices."""
    return index.tensor_split(ranks.world_size)[ranks.rank] if ranks.active else index


def rank_seed(seed: int, ranks: Ranks) -> int:
    """A seed per (seed, rank); rank 0 keeps `seed`, so one rank is the single-process run."""
    return seed + 7919 * ranks.rank


def wrap(system: nn.Module, device: torch.device, ranks: Ranks) -> nn.Module:
    """The trainable module: the system itself in one process, DistributedDataParallel around it under torchrun."""
    if not ranks.active:
        return system
    if device.type == "cuda":  # batch statistics over the global batch (SyncBatchNorm runs on CUDA only)
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


def gather_rows(tensor: torch.Tensor) -> torch.Tensor:
    """The rows of every rank's `tensor`, concatenated in rank order: the global batch's rows in the order one
    process would hold them (shards are contiguous). No gradient. Shards may differ by one row, so the sizes are
    exchanged first: one small host read per call, which only the key queues (MoCo v2, CR-VAE) make, once a step."""
    ranks = current()
    if not ranks.active:
        return tensor
    size = torch.tensor([len(tensor)], device=tensor.device)
    sizes = [torch.empty_like(size) for _ in range(ranks.world_size)]
    dist.all_gather(sizes, size)
    counts = [int(s) for s in sizes]
    padded = torch.zeros((max(counts), *tensor.shape[1:]), dtype=tensor.dtype, device=tensor.device)
    padded[: len(tensor)] = tensor
    parts = [torch.empty_like(padded) for _ in range(ranks.world_size)]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([part[:count] for part, count in zip(parts, counts)])


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


def barrier() -> None:
    if current().active:
        dist.barrier()
