"""Shared pieces of the benchmark and comparison scripts: reusable run folders and markdown tables."""
from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ppl_ssl.config import build_config
from ppl_ssl.errors import ConfigError
from ppl_ssl.pipeline import fit_and_evaluate
from ppl_ssl.progress import say
from ppl_ssl.provenance import config_digest, same_settings
from ppl_ssl.storage import load_checkpoint, read_json
from ppl_ssl.train.loop import fit


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A markdown table of one header row and rows of cells (anything with a str())."""
    line = lambda cells: "| " + " | ".join(str(c) for c in cells) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "---|" * len(header), *(line(r) for r in rows)])


def ensure_run(model: str, out: Path, overrides: dict, assignments: list[str], progress: bool = False) -> Path:
    """Run folder `out` of preset `model` with these flag overrides ({dotted.key: value}) and --set assignments,
    fitted and evaluated first unless it already is (a killed run is resumed from its checkpoint). A finished run
    there made with other settings (its recorded config digest differs) is refused, never reused or overwritten."""
    config = build_config(model, overrides, assignments)
    if (out / "metrics.json").exists():
        metrics = read_json(out / "metrics.json")
        if "config_digest" not in metrics:
            say(f"{out}: a finished run with no record of its settings (an older ppl-ssl); reused as it is")
        elif not same_settings(metrics, config):
            raise ConfigError(f"run folder {out} holds a finished run made with other settings (config digest "
                              f"{metrics['config_digest']}, these settings' {config_digest(config)}); move it away "
                              f"or give another --out")
    else:
        started = time.perf_counter()
        fit_and_evaluate(config, out, resume=(out / "checkpoint.pt").exists(), progress=progress)
        say(f"{model} -> {out}: {time.perf_counter() - started:.0f}s wall (train + evaluation)")
    return out


def epoch_seconds(config, data=None) -> tuple[list[float], object]:
    """Train `config` in a throwaway run folder; the seconds of each epoch's training loop (from the run's
    history: no data loading, evaluation or saving) and the data it used (pass it back in to reuse it)."""
    with tempfile.TemporaryDirectory() as out:
        _, data = fit(config, out, data=data, progress=False)
        history = load_checkpoint(Path(out) / "checkpoint.pt")["history"]
    return [epoch["seconds"] for epoch in history], data


def timed(call, device: torch.device) -> float:
    """Wall seconds of call(); on a GPU, queued work is waited for before and after, so it is counted."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    call()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def round_robin_medians(calls: dict[str, Callable[[], None]], rounds: int, device: torch.device,
                        warmup_rounds: int = 1) -> dict[str, float]:
    """Median wall seconds of each call, timed interleaved (one call of each per round, after warm-up rounds), so
    every call sees the same machine state and their ratios do not depend on the machine's drift."""
    for _ in range(warmup_rounds):
        for call in calls.values():
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            times[name].append(timed(call, device))
    return {name: sorted(t)[len(t) // 2] for name, t in times.items()}


def mean_and_standard_error(values: list[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (sample std / √n; nan for a single value)."""
    array = np.asarray(values, dtype=float)
    if len(array) < 2:
        return float(array.mean()), math.nan
    return float(array.mean()), float(array.std(ddof=1) / math.sqrt(len(array)))


def format_mean_se(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    """'81.2 ± 0.3' (the ± part left out for a single seed)."""
    if not values:
        return "–"
    mean, se = mean_and_standard_error([scale * v for v in values])
    return f"{mean:.{digits}f}" if math.isnan(se) else f"{mean:.{digits}f} ± {se:.{digits}f}"
