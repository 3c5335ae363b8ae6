"""The training step captured once as a CUDA graph and replayed (`train.cuda_graph = true`).

A step of the paper's MLPs is about 300 small kernels whose launches cost the host more time than the GPU spends
running them; a captured step is one launch. What the capture needs, and where this module provides it:

- static inputs: the batch is copied into a fixed buffer and the KL weight filled into a device scalar before each
  replay (the objective multiplies by that tensor, so a warm-up schedule needs no new capture);
- warm-up: the first `warmup_steps` full batches run eagerly on a side stream (as PyTorch's whole-network capture
  does), so lazily allocated state (Adam's moments, cuBLAS workspaces) exists before the capture;
- Adam with `capturable=True` (its step counter on the device), autocast without its weight cache, and the
  augmentation's own generator registered with the graph so each replay draws new views;
- a batch of another size (the last, partial batch of an epoch) runs eagerly through the same `TrainStep`.

The replayed kernels read and write the very parameters and optimiser state the eager step uses, so checkpoints,
resuming and the divergence guard see no difference. The capture itself needs CUDA; `GraphBackend` is the seam
through which the CPU tests replace it.
"""
from __future__ import annotations

from typing import Callable

import torch

from ppl_ssl.errors import ConfigError
from ppl_ssl.optim import DEFAULT_SCHEDULE
from ppl_ssl.precision import AutocastModule
from ppl_ssl.train.step import TrainStep


class GraphBackend:
    """Captures a function of no arguments into a replayable graph (CUDA's); tests substitute an eager stand-in."""

    def warm_up(self, run: Callable[[], dict]) -> dict:
        """Run `run` once as a warm-up step: on a side stream, as capture requires."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            out = run()
        torch.cuda.current_stream().wait_stream(side)
        return out

    def capture(self, run: Callable[[], dict], generators: list[torch.Generator]) -> tuple[Callable[[], None], dict]:
        """(replay, outputs): `run`'s kernels recorded once; replay() reruns them, refreshing the static outputs."""
        graph = torch.cuda.CUDAGraph()
        for generator in generators:  # custom generators advance per replay only when registered
            graph.register_generator_state(generator)
        with torch.cuda.graph(graph):
            outputs = run()
        return graph.replay, outputs


class EagerBackend(GraphBackend):
    """A stand-in for CUDA's capture where there is no GPU (tests, `bench_gpu.py --dry-run`): warm-up steps run
    eagerly; `capture` records the function without running it, and each replay reruns it on the static buffers,
    refreshing one output dict, as a graph refreshes its static outputs. `events` lists what happened."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def warm_up(self, run: Callable[[], dict]) -> dict:
        self.events.append("warm-up")
        return run()

    def capture(self, run: Callable[[], dict], generators: list[torch.Generator]) -> tuple[Callable[[], None], dict]:
        self.events.append("capture")
        outputs: dict = {}

        def replay() -> None:
            self.events.append("replay")
            outputs.update(run())

        return replay, outputs


def check_graph_config(config, device: torch.device, distributed_run: bool) -> None:
    """Refuse, in one line, what a captured step cannot do."""
    if device.type != "cuda":
        raise ConfigError(f"train.cuda_graph = true captures the step as a CUDA graph, but the run trains on {device}; "
                          f"use --device cuda or drop train.cuda_graph")
    if distributed_run:
        raise ConfigError("train.cuda_graph = true is for one process (DistributedDataParallel's gradient all-reduce is "
                          "not captured here); drop it under torchrun")
    if config.train.compile:
        raise ConfigError("train.cuda_graph and train.compile each take over the step; choose one")
    if config.schedule.kind != DEFAULT_SCHEDULE:
        raise ConfigError(f"train.cuda_graph = true captures the learning rate as a constant; schedule.kind = "
                          f"'{config.schedule.kind}' would not reach the replays; use schedule.kind=constant")


class GraphedTrainStep:
    """Calls like `TrainStep`: step(images, kl_weight, global_batch) -> the step's terms (device tensors)."""

    def __init__(self, step: TrainStep, warmup_steps: int = 3, backend: GraphBackend | None = None):
        self.step, self.warmup_steps = step, warmup_steps
        self.backend = backend or GraphBackend()
        self.images: torch.Tensor | None = None  # the static input buffer, made at the first full batch
        self.kl_weight: torch.Tensor | None = None
        self.replay: Callable[[], None] | None = None
        self.outputs: dict | None = None
        self.warmed = 0
        for module in step.system.modules():
            if isinstance(module, AutocastModule):
                module.autocast_cache = False  # autocast's cast-weight cache does not survive replays

    def __call__(self, images: torch.Tensor, kl_weight: float | None = None, global_batch: int | None = None) -> dict:
        if self.images is None:
            self.images = torch.empty_like(images)
            self.kl_weight = torch.ones((), device=images.device)
        if images.shape != self.images.shape:  # the epoch's last, partial batch
            return self.step(images, kl_weight, global_batch)
        self.images.copy_(images)
        if kl_weight is not None:
            self.kl_weight.fill_(kl_weight)
        if self.replay is None and self.warmed < self.warmup_steps:
            self.warmed += 1
            return self.backend.warm_up(self._run)
        if self.replay is None:
            self.step.optimiser.zero_grad(set_to_none=True)  # gradients are allocated inside the graph's pool
            self.replay, self.outputs = self.backend.capture(self._run, [self.step.augmenter.generator])
        self.replay()
        return self.outputs

    def _run(self) -> dict:
        return self.step(self.images, self.kl_weight, len(self.images))
