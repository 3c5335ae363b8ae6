"""The main job in two calls: `fit_and_evaluate` (train, evaluate, draw) and `evaluate_run` (for a finished run)."""
from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import torch

from ppl_ssl import distributed, faults, figures
from ppl_ssl.config import Config
from ppl_ssl.errors import ConfigError
from ppl_ssl.evaluation import StageClock, embed, evaluate, evaluate_generative
from ppl_ssl.provenance import code_version, config_digest
from ppl_ssl.storage import (RunPaths, atomic_torch_save, atomic_write_json, load_best_weights, load_checkpoint,
                             load_weights, read_log, run_lock)
from ppl_ssl.runs import load_run
from ppl_ssl.samplers import build_sampler
from ppl_ssl.trackers import open_trackers
from ppl_ssl.train.loop import fit
from ppl_ssl.train.setup import load_data_for


def _report(system, data, config: Config, paths: RunPaths, history: list[dict], make_figures: bool,
            progress: bool = False, best_epoch: int | None = None) -> dict:
    started = time.perf_counter()
    clock = StageClock(say=(lambda line: print(line, file=sys.stderr, flush=True)) if progress else None)  # progress
    metrics, features = evaluate(system, data, config.eval, history, seed=config.train.seed, augment=config.augment,
                                 clock=clock)
    metrics.update({"model": config.name, "method": config.method.kind, "dataset": config.data.dataset,
                    "views": config.model.views, "precision": system.precision,
                    "eval_seconds": time.perf_counter() - started, "code_version": code_version(),
                    "config_digest": config_digest(config),
                    **({"best_epoch": best_epoch} if best_epoch is not None else {})})  # keep_best: the weights evaluated
    atomic_write_json(paths.metrics, metrics)
    for warning in metrics.get("warnings", []) if progress else []:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    drawn = []
    if make_figures and config.eval.figures:
        with clock("figures"):
            drawn = figures.write_all(system, features, data, config.model.views, read_log(paths.log), history,
                                      paths.figures, config.eval.tsne_points, metrics, config.eval.interpolation_pairs)
    for tracker in open_trackers(config, paths.root):
        tracker.metrics(metrics, history[-1]["epoch"] if history else 0)
        tracker.figures(drawn, history[-1]["epoch"] if history else 0)
        tracker.close()
    return metrics


def fit_and_evaluate(config: Config, out: str | Path, resume: bool = False, progress: bool = True,
                     make_figures: bool = True, on_epoch_end=None) -> dict:
    """Train the run, then write metrics.json and figures/; returns the metrics."""
    paths = RunPaths(Path(out))
    if not distributed.current().is_main:  # under torchrun rank 0 alone evaluates and writes; the others are done
        fit(config, out, resume=resume, progress=progress, on_epoch_end=on_epoch_end)
        return {}  # leaving now: waiting for rank 0's evaluation could outlast the process group's timeout
    with run_lock(paths.root):  # training and evaluation: one writer of the folder from start to metrics.json
        system, data = fit(config, out, resume=resume, progress=progress, on_epoch_end=on_epoch_end)
        history = load_checkpoint(paths.checkpoint)["history"]
        best_epoch = load_best_weights(system, paths) if config.train.keep_best else None
        faults.point("evaluation")
        metrics = _report(system, data, config, paths, history, make_figures, progress, best_epoch)
    return metrics


def evaluate_run(run_dir: str | Path, device: str = "auto", make_figures: bool = True, nll_samples: int | None = None,
                 nll_images: int | None = None, representation: bool = True, progress: bool = False) -> dict:
    """Recompute metrics.json (and figures) of a finished run from its folder.

    nll_samples / nll_images override eval.nll_samples / eval.nll_test_images (K importance samples per test
    image; 0 images = all). representation=False keeps the stored representation metrics and recomputes only the
    generative ones (reconstruction, diagnostics, NLL), merged into metrics.json. A run that a fit is still
    training is refused (its checkpoint is mid-training, and metrics.json marks a finished run)."""
    with run_lock(Path(run_dir), create=False):
        return _evaluate_run(run_dir, device, make_figures, nll_samples, nll_images, representation, progress)


def _evaluate_run(run_dir, device, make_figures, nll_samples, nll_images, representation, progress) -> dict:
    run = load_run(run_dir, device=device)
    config = run.config
    if not run.system.can_decode and (not representation or nll_samples):
        raise ConfigError(f"run {run_dir} was trained by method '{config.method.kind}', which has no generative model: "
                          f"no NLL or generative metrics; drop --nll / --only-generative")
    overrides = {k: v for k, v in (("nll_samples", nll_samples), ("nll_test_images", nll_images)) if v is not None}
    config = dataclasses.replace(config, eval=dataclasses.replace(config.eval, **overrides))
    data = load_data_for(config, run.device)
    history = load_checkpoint(run.paths.checkpoint)["history"]
    if representation:
        return _report(run.system, data, config, run.paths, history, make_figures, progress, run.best_epoch)
    metrics = {**run.metrics, **evaluate_generative(run.system, data, config.eval, history)}
    atomic_write_json(run.paths.metrics, metrics)
    return metrics


def sample_run(run_dir: str | Path, sampler: str = "gmm", n: int = 64, refit: bool = False, device: str = "auto",
               seed: int = 0) -> dict:
    """Decode n samples of an ex-post sampler fitted on the run's training codes (fitted once, kept in
    RUN/samplers/NAME.pt); draw them to RUN/figures/samples_NAME.png. Returns paths and the mean log-density of
    the test codes under the sampler (higher: the sampler covers the codes the encoder actually uses). A run that a
    fit is still training is refused."""
    with run_lock(Path(run_dir), create=False):
        return _sample_run(run_dir, sampler, n, refit, device, seed)


def _sample_run(run_dir, sampler: str, n: int, refit: bool, device: str, seed: int) -> dict:
    run = load_run(run_dir, device=device)
    if run.decoder is None:
        raise ConfigError(f"run {run_dir} was trained by method '{run.config.method.kind}', which has no decoder to sample "
                          f"from; fit one to its frozen encoder with: ppl-ssl decode {run_dir}")
    if sampler == "prior" and not run.system.can_decode:
        raise ConfigError(f"run {run_dir} (method '{run.config.method.kind}') has no prior; use a sampler fitted on its "
                          f"codes, e.g. --sampler gmm")
    model = build_sampler(sampler, run.system, run.config.model.latent_dim).to(run.device)
    state_path = run.paths.root / "samplers" / f"{sampler}.pt"
    data = load_data_for(run.config, run.device)
    if state_path.exists() and not refit:
        load_weights(model, load_checkpoint(state_path, required=()), state_path)
    else:
        model.fit(embed(run.system.encode, data.train_x).to(run.device))
        atomic_torch_save(state_path, model.state_dict())
    torch.manual_seed(seed)
    images = run.decoder(model.sample(n))  # the post-hoc decoder for an encoder without its own
    figure = run.paths.figures / f"samples_{sampler}.png"
    figures.sample_grid(images, figure, f"{n} samples: sampler '{sampler}' fitted on training codes, decoded")
    test_codes = embed(run.system.encode, data.test_x).to(run.device)
    return {"figure": str(figure), "sampler_state": str(state_path) if sampler != "prior" else None,
            "test_code_log_density": float(model.log_prob(test_codes).mean())}
