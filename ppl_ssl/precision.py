"""Numerical precision as configuration (`train.precision = fp32 | bf16 | auto`).

The policy: **the nets compute in bf16, the probability stays in fp32.**

- Every net (encoders, decoders, selfVAE's level nets, projection heads) is an `AutocastModule`. Under a bf16
  policy its forward runs under `torch.autocast` (matrix products and convolutions in bf16, on CPU and CUDA)
  and its outputs are cast back to fp32 at its boundary, before any distribution sees them.
- Everything probabilistic is outside the nets and therefore fp32: priors (their flows included), likelihoods
  (the decoder's raw output is fp32 before the sigmoid or the logistic mixture), the guides' distributions, every
  log-density, the ELBO terms, the IWAE log-weights and all reductions. Why: bf16 keeps 8 bits of mantissa, so a
  log-likelihood summed over 784 pixels × J views (thousands of nats) would be off by tens of nats, and
  log(σ) of a confident encoder, 1 − e^{−t} in the logistic bins or a flow's log-determinant lose their meaning.
- Parameters, gradients, optimiser moments and checkpoints stay fp32: autocast casts copies of the weights
  per operation, so nothing about a run's state depends on the precision it was trained in.

`auto` chooses bf16 where the hardware runs it natively and faster: a CUDA device with bf16 support, or a CPU
whose flags (/proc/cpuinfo) list AVX512-BF16 or AMX-BF16 *and* on which a bf16 matrix product of the size these
nets use is measurably faster than fp32 (`cpu_bf16_speedup`, about 0.1 s, once per process). The flag alone is not
enough: on an AMD Zen 4 bf16 products run about twice as fast as fp32, but on the Intel Xeon with AVX512-BF16 and
no AMX these figures were measured on, oneDNN's bf16 kernel is 1.4–2× *slower* than MKL's fp32 one. Elsewhere: fp32.
A fresh run writes the precision `auto` became into its config.toml, so a resumed or reloaded run computes as
it was trained.
"""
from __future__ import annotations

import functools
import time
from pathlib import Path

import torch
from torch import nn

from ppl_ssl.errors import ConfigError

PRECISIONS = ("fp32", "bf16", "auto")
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 arithmetic instructions (AVX512-BF16 or AMX-BF16), from /proc/cpuinfo's flags.

    Elsewhere (no /proc/cpuinfo: macOS, Windows) the answer is False, so `auto` keeps fp32: emulated bf16 on a CPU
    without these instructions is slower than fp32."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return "avx512_bf16" in flags or "amx_bf16" in flags


@functools.cache
def cpu_bf16_speedup() -> float:
    """fp32 time / bf16 time of a 1280×500 by 500×2000 matrix product on this CPU (the MLP's widest layer for a
    batch of 128 images × 10 views); > 1 means bf16 is faster. Medians of 5 after a warm-up."""
    a, b = torch.randn(1280, 500), torch.randn(500, 2000)
    times = {}
    for dtype in (torch.float32, torch.bfloat16):
        x, y = a.to(dtype), b.to(dtype)
        for _ in range(2):
            x @ y
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            x @ y
            samples.append(time.perf_counter() - started)
        times[dtype] = sorted(samples)[2]
    return times[torch.float32] / times[torch.bfloat16]


AUTO_MIN_SPEEDUP = 1.2  # `auto` takes bf16 on a CPU only if its products are clearly faster (timing noise aside)


def has_native_bf16(device: torch.device) -> bool:
    """Whether `auto` should compute in bf16 on this device (see the module's docstring)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_has_native_bf16() and cpu_bf16_speedup() >= AUTO_MIN_SPEEDUP


def resolve_precision(name: str, device: torch.device | str) -> torch.dtype:
    """The dtype the nets compute in: torch.float32 or torch.bfloat16."""
    device = torch.device(device)
    if name not in PRECISIONS:
        raise ConfigError(f"train.precision = {name!r} is not one of {', '.join(PRECISIONS)}")
    if name == "auto":
        return torch.bfloat16 if has_native_bf16(device) else torch.float32
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"train.precision = 'bf16' but {torch.cuda.get_device_name(device)} has no bf16 support; "
                          f"use --precision fp32 or auto")
    return _DTYPES[name]


def precision_name(dtype: torch.dtype) -> str:
    return {v: k for k, v in _DTYPES.items()}[dtype]


def _to_float32(out):
    """Outputs of a net back to fp32 (tensors inside tuples, lists and dicts too)."""
    if isinstance(out, torch.Tensor):
        return out.float() if out.is_floating_point() and out.dtype != torch.float32 else out
    if isinstance(out, (tuple, list)):
        return type(out)(_to_float32(o) for o in out)
    if isinstance(out, dict):
        return {k: _to_float32(v) for k, v in out.items()}
    return out


def _device_type(args, kwargs) -> str:
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            return value.device.type
    return "cpu"


def _autocast_enabled(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4 has one query per device type
        return torch.is_autocast_cpu_enabled() if device_type == "cpu" else torch.is_autocast_enabled()


class AutocastModule(nn.Module):
    """A net that computes in `compute_dtype` (None: fp32, no autocast) and returns fp32 outputs.

    `apply_precision` sets `compute_dtype` on every such module of a system. A net nested in another runs inside
    the outer net's autocast region and leaves the casting back to the outer one."""

    compute_dtype: torch.dtype | None = None
    autocast_cache: bool = True  # autocast's cache of cast weights (off in a CUDA graph: it does not survive replays)

    def __call__(self, *args, **kwargs):
        if self.compute_dtype is None:
            return super().__call__(*args, **kwargs)
        device_type = _device_type(args, kwargs)
        if _autocast_enabled(device_type):  # inside an outer net: it casts back at its own boundary
            return super().__call__(*args, **kwargs)
        with torch.autocast(device_type, dtype=self.compute_dtype, cache_enabled=self.autocast_cache):
            out = super().__call__(*args, **kwargs)
        return _to_float32(out)


def apply_precision(system: nn.Module, dtype: torch.dtype) -> nn.Module:
    """Make every net of `system` compute in `dtype` (fp32 turns autocast off); returns the system."""
    for module in system.modules():
        if isinstance(module, AutocastModule):
            module.compute_dtype = None if dtype == torch.float32 else dtype
    return system


def outermost_nets(system: nn.Module) -> list[nn.Module]:
    """The AutocastModules of a system that no other AutocastModule contains (what `torch.compile` compiles)."""
    found: list[nn.Module] = []

    def visit(module: nn.Module) -> None:
        for child in module.children():
            if isinstance(child, AutocastModule):
                if all(child is not f for f in found):
                    found.append(child)
            else:
                visit(child)

    visit(system)
    return found
