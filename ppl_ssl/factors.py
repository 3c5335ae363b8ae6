"""Objective terms that a model program adds with `pyro.factor` (CR-VAE's contrast and consistency, InfoVAE's MMD,
β-TC-VAE's reweighting, RAE's penalties): part of what is optimised, no part of the density p(x, z).

A program adds one through `objective_factor(name, term)`, where `term` computes it. Inside `density_only()` the
term is neither computed nor added: the likelihood estimators (importance weighting, AIS) trace the programs there,
so that a term written for a training batch (β-TC-VAE's minibatch estimate, an MMD between the batch's codes and
prior draws) never runs on their particle-shaped codes, and never enters log p(x, z)."""
from __future__ import annotations

import contextlib
import contextvars
from typing import Callable, Iterator

import pyro
import torch

_density_only: contextvars.ContextVar[bool] = contextvars.ContextVar("ppl_ssl_density_only", default=False)


@contextlib.contextmanager
def density_only() -> Iterator[None]:
    """Programs traced inside this block add no objective terms."""
    token = _density_only.set(True)
    try:
        yield
    finally:
        _density_only.reset(token)


def objective_factor(name: str, term: Callable[[], torch.Tensor]) -> None:
    """pyro.factor(name, term()) when fitting; nothing inside `density_only()`."""
    if not _density_only.get():
        pyro.factor(name, term())
