"""The divergence guard: training stops, with one line, when a logged term or the gradient norm runs away."""
from __future__ import annotations

import math

from ppl_ssl.errors import TrainingDiverged
from ppl_ssl.storage import RunPaths, load_checkpoint


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


def check_divergence(records: list[dict], bound: float, paths: RunPaths, epoch: int, steps_per_epoch: int) -> None:
    """Stop with one line naming the term, where it happened, and the checkpoint kept."""
    diverged = divergence(records, bound)
    if diverged is None:
        return
    term, value, global_step = diverged
    kept = (f"the last good checkpoint ({checkpoint_position(paths)}) is kept in {paths.root}" if paths.checkpoint.exists()
            else "no checkpoint had been written yet")
    raise TrainingDiverged(f"term '{term}' became {value:.3g} per view at epoch {epoch + 1} step "
                           f"{global_step - epoch * steps_per_epoch + 1}; {kept}; try a lower --lr or set "
                           f"train.max_grad_norm (--set train.max_grad_norm=10)")
