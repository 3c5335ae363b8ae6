"""The main job in two calls: `fit_and_evaluate` (train, evaluate, draw) and `evaluate_run` (for a finished run)."""
from __future__ import annotations

import json
from pathlib import Path

from ppl_ssl import figures
from ppl_ssl.config import Config
from ppl_ssl.evaluation import evaluate
from ppl_ssl.runs import RunPaths, atomic_write_json, load_checkpoint, load_run
from ppl_ssl.training import fit, load_data_for


def _report(system, data, config: Config, paths: RunPaths, history: list[dict], make_figures: bool) -> dict:
    metrics, features = evaluate(system, data, config.eval, history, seed=config.train.seed)
    metrics.update({"model": config.name, "dataset": config.data.dataset, "views": config.model.views})
    atomic_write_json(paths.metrics, metrics)
    if make_figures and config.eval.figures:
        log_lines = [json.loads(line) for line in paths.log.read_text().splitlines() if line] if paths.log.exists() else []
        figures.write_all(system, features, data, config.model.views, log_lines, history, paths.figures, config.eval.tsne_points)
    return metrics


def fit_and_evaluate(config: Config, out: str | Path, resume: bool = False, progress: bool = True,
                     make_figures: bool = True, on_epoch_end=None) -> dict:
    """Train the run, then write metrics.json and figures/; returns the metrics."""
    paths = RunPaths(Path(out))
    system, data = fit(config, out, resume=resume, progress=progress, on_epoch_end=on_epoch_end)
    history = load_checkpoint(paths.checkpoint)["history"]
    return _report(system, data, config, paths, history, make_figures)


def evaluate_run(run_dir: str | Path, device: str = "auto", make_figures: bool = True) -> dict:
    """Recompute metrics.json (and figures) of a finished run from its folder."""
    run = load_run(run_dir, device=device)
    data = load_data_for(run.config, run.device)
    history = load_checkpoint(run.paths.checkpoint)["history"]
    return _report(run.system, data, run.config, run.paths, history, make_figures)
