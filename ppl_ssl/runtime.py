"""Device choice, the host allocator, and random-number state (seeding, saving and restoring it for exact resumes)."""
from __future__ import annotations

import ctypes
import functools
import random
import sys

import numpy as np
import pyro
import torch

from ppl_ssl.errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> the first CUDA device if there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device '{name}' asked for but CUDA is not available here; use --device cpu or auto")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    pyro.set_rng_seed(seed)  # seeds torch, random and numpy


def rng_state(device: torch.device | str = "cpu") -> dict:
    """The global RNG states that Pyro's sampling draws from: torch's CPU generator and, when training on a GPU, that
    GPU's alone (a resume may see other GPUs, or fewer); CPU byte tensors, weights_only-loadable."""
    device = torch.device(device)
    state = {"torch": torch.get_rng_state(), "python_random": list(random.getstate()[1])}
    if device.type == "cuda":
        state["cuda_device"] = torch.cuda.get_rng_state(device).cpu()
    return state


def set_rng_state(state: dict, device: torch.device | str = "cpu") -> None:
    """Restore `rng_state`'s states; generator states are CPU byte tensors whatever device they were loaded to."""
    device = torch.device(device)
    torch.set_rng_state(_cpu_bytes(state["torch"]))
    version, _, gauss = random.getstate()
    random.setstate((version, tuple(state["python_random"]), gauss))
    if device.type == "cuda":
        saved = state.get("cuda_device")
        if saved is None and "cuda" in state:  # checkpoints that kept every visible GPU's state, in index order
            index = device.index if device.index is not None else torch.cuda.current_device()
            saved = state["cuda"][index] if index < len(state["cuda"]) else None
        if saved is not None:
            torch.cuda.set_rng_state(_cpu_bytes(saved), device)
    np.random.seed(int(state["torch"][:4].sum()))  # numpy is not used while training; keep it deterministic anyway


def _cpu_bytes(state: torch.Tensor) -> torch.Tensor:
    """Generator states must be CPU byte tensors (Generator.set_state and torch.set_rng_state refuse others)."""
    return state if state.device.type == "cpu" else state.to("cpu")


@functools.cache
def keep_freed_memory() -> bool:
    """Let glibc's malloc keep freed host memory for reuse (returns whether it took the settings).

    By default glibc hands every block above a moving threshold back to the OS and trims the heap's top, so a
    training step that frees and re-allocates its activations (about 10 MB per layer for a SimVAE batch)
    touches fresh pages each time and pays a page fault per 4 KiB: on the 2-core CPU that is about 15% of a SimVAE
    step (experiments/bench_svi_step.py). Blocks up to 32 MiB (glibc's maximum) now come from the heap and the
    heap is not trimmed, so the process keeps its peak host memory, which training reaches every step anyway.
    Linux with glibc only; elsewhere nothing changes. `train.keep_freed_memory = false` leaves malloc alone."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...)
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, 32 * 2**20)) and bool(mallopt(m_trim_threshold, 2**31 - 1))
