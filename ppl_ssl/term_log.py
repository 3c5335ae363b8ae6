"""The training step's terms, kept on the device and read in batches: the step itself never waits for the host.

Converting a term to a Python number (`float(t)`, `t.item()`) makes the host wait until the device has finished
the step, which stalls a GPU's queue every step. `PendingTerms` stacks each step's terms on the device and
reads all pending steps with one transfer (`drain`), which the trainer calls every `train.log_every` steps and at
the end of an epoch. Every step still gets its own log line, with the same numbers a per-step read gives.
"""
from __future__ import annotations

from typing import Callable

import torch


class PendingTerms:
    """Per-step term sums (each a scalar tensor) waiting on the device; `drain` returns them per view, per step."""

    def __init__(self) -> None:
        self.names: list[str] | None = None
        self._rows: list[torch.Tensor] = []
        self._meta: list[tuple[int, int, dict]] = []  # (global step, views in the step, host-side extras)

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, step: int, terms: dict[str, torch.Tensor | float], views: int, extras: dict | None = None) -> None:
        """Queue one step's terms (sums over its `views` views); no host synchronisation. `extras` are host-side
        numbers logged as they are (not per view): the step's learning rate."""
        if self.names is None:
            self.names = list(terms)
        elif list(terms) != self.names:
            raise ValueError(f"step {step} has terms {list(terms)}, earlier steps had {self.names}")
        device = next((t.device for t in terms.values() if isinstance(t, torch.Tensor)), None)
        self._rows.append(torch.stack([torch.as_tensor(terms[k], device=device).detach().float().reshape(())
                                       for k in self.names]))
        self._meta.append((step, views, extras or {}))

    def drain(self, reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> list[dict]:
        """All pending steps as {"step", "views", name: value per view}; one device→host transfer. `reduce` combines
        the stacked sums first (under torchrun: summed over ranks, where `views` counts every rank's views)."""
        if not self._rows:
            return []
        stacked = torch.stack(self._rows)
        values = (reduce(stacked) if reduce is not None else stacked).tolist()
        records = [{"step": step, "views": views, **{k: v / views for k, v in zip(self.names, row)}, **extras}
                   for (step, views, extras), row in zip(self._meta, values)]
        self._rows, self._meta = [], []
        return records
