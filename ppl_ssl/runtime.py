"""Device choice and random-number state (seeding, saving and restoring it for exact resumes)."""
from __future__ import annotations

import random

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


def rng_state() -> dict:
    """The global RNG states that Pyro's sampling draws from (torch CPU and CUDA); weights_only-loadable."""
    state = {"torch": torch.get_rng_state(), "python_random": list(random.getstate()[1])}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    version, _, gauss = random.getstate()
    random.setstate((version, tuple(state["python_random"]), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.seed(int(state["torch"][:4].sum()))  # numpy is not used while training; keep it deterministic anyway
