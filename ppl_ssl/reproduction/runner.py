"""Train and evaluate a suite's runs: ordinary run folders, skipped when finished and resumed when interrupted, so a
killed reproduction loses at most the epoch in progress. Runs are shared between suites with the same budget and
dataset (table1's VAE is generation's VAE)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ppl_ssl.config import build_config
from ppl_ssl.evaluation.fid import cached_feature_network
from ppl_ssl.evaluation.generation import generation_scores, reconstruct_images, sampler_fids, training_images
from ppl_ssl.evaluation.likelihood import reconstruction_mse
from ppl_ssl.evaluation.tightness import estimate_tightness
from ppl_ssl.pipeline import evaluate_run
from ppl_ssl.progress import say
from ppl_ssl.reporting import ensure_run
from ppl_ssl.reproduction.budgets import Budget
from ppl_ssl.reproduction.suites import PYTHAE_SAMPLERS, RunSpec, Suite
from ppl_ssl.storage import atomic_write_json
from ppl_ssl.runs import load_run
from ppl_ssl.train.setup import load_data_for


@dataclass
class RunResult:
    spec: RunSpec
    folder: Path
    metrics: dict


def runs_folder(out: Path, budget: Budget, dataset: str, assignments: list[str]) -> Path:
    """OUT/BUDGET/DATASET, with a tag of the user's --set assignments so that differently configured runs never mix."""
    tag = "-set" + hashlib.sha1("\n".join(assignments).encode()).hexdigest()[:8] if assignments else ""
    return out / f"{budget.name}{tag}" / dataset


def method_kind(model: str) -> str:
    return build_config(model).method.kind


def run_suite(suite: Suite, budget: Budget, dataset: str, seeds: list[int], out: Path, device: str = "auto",
              precision: str | None = None, assignments: list[str] | None = None, progress: bool = False) -> list[RunResult]:
    assignments = list(assignments or [])
    folder_root = runs_folder(out, budget, dataset, assignments)
    kinds = {model: method_kind(model) for model, *_ in suite.runs}
    results = []
    for spec in suite.specs(seeds):
        overrides = {**budget.overrides(kinds[spec.model], suite.kind), "data.dataset": dataset, "train.seed": spec.seed,
                     "train.device": device, **({"train.precision": precision} if precision else {})}
        folder = ensure_run(spec.model, folder_root / spec.folder, overrides, [*spec.assignments, *assignments], progress)
        scorer = SCORERS.get(suite.scorer)
        if scorer is not None:
            scorer(folder, budget, out, device, progress)
        results.append(RunResult(spec, folder, json.loads((folder / "metrics.json").read_text())))
    return results


def _feature_network(run, data, budget: Budget, out: Path):
    """The offline FID network of the run's dataset, learnt from the whole training split whatever subset the run
    trained on, cached under OUT/feature_nets."""
    whole = data if not run.config.data.train_subset else load_data_for(
        dataclasses.replace(run.config, data=dataclasses.replace(run.config.data, train_subset=0)), run.device)
    return cached_feature_network(whole, out / "feature_nets", seed=0, epochs=budget.feature_net_epochs)


def add_generation_scores(folder: Path, budget: Budget, out: Path, device: str, progress: bool = False) -> None:
    """FID of class-conditional and prior samples (merged into the run's metrics.json once)."""
    metrics_path = folder / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    if metrics.get("fid_samples") == budget.fid_samples:
        return
    run = load_run(folder, device=device)
    data = load_data_for(run.config, run.device)
    network = _feature_network(run, data, budget, out)
    metrics.update(generation_scores(run.system, data, network, budget.fid_samples, seed=run.config.train.seed))
    atomic_write_json(metrics_path, metrics)
    say(f"{folder.name}: {network.metric_name} class-conditional {metrics[network.metric_name + '_class_conditional']:.2f}")


def add_bits_per_dim(folder: Path, budget: Budget, out: Path, device: str, progress: bool = False) -> None:
    """Importance-weighted test bits/dim with the budget's samples (merged into metrics.json once)."""
    metrics = json.loads((folder / "metrics.json").read_text())
    if metrics.get("nll_samples") == budget.nll_samples and metrics.get("nll_images") == budget.nll_images:
        return
    evaluate_run(folder, device=device, make_figures=False, nll_samples=budget.nll_samples, nll_images=budget.nll_images,
                 representation=False)


def add_likelihood_estimates(folder: Path, budget: Budget, out: Path, device: str, progress: bool = False) -> None:
    """IW, AIS and BDMC estimates of the budget's protocol: RUN/likelihood.json (with the NLL-against-compute rows)
    and the summary merged into metrics.json (once per protocol)."""
    metrics_path = folder / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    if metrics.get("likelihood_protocol") == budget.likelihood.describe():
        return
    run = load_run(folder, device=device)
    data = load_data_for(run.config, run.device)
    result = estimate_tightness(run.system, data.test_x, budget.likelihood, seed=run.config.train.seed, progress=progress)
    atomic_write_json(folder / "likelihood.json", result)
    atomic_write_json(metrics_path, {**metrics, **result["summary"]})
    say(f"{folder.name}: AIS NLL {result['summary']['ais_nll']:.2f}, IW NLL {result['summary']['iw_nll']:.2f}")


def add_pythae_scores(folder: Path, budget: Budget, out: Path, device: str, progress: bool = False) -> None:
    """Pythae's Task 1 and 2 scores (merged into metrics.json once): reconstruction MSE on the validation split (the
    test MSE is the evaluation's own), FID of the test images' reconstructions, and FID and inception score of each
    sampler's draws against test and validation images; the FID of as many training images, the floor. Its Task 3
    and 4 (the probe over 20 runs, the k-means fits) come from the evaluation the suite's eval settings ask for."""
    metrics_path = folder / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    if metrics.get("pythae_fid_samples") == budget.fid_samples:
        return
    run = load_run(folder, device=device)
    data = load_data_for(run.config, run.device)
    network = _feature_network(run, data, budget, out)
    samples = min(budget.fid_samples, len(data.test_x), len(data.val_x))
    scores = {"val_reconstruction_mse": reconstruction_mse(run.system, data.val_x)}
    test = data.test_x[:samples].cpu()
    reference = network.statistics(test)
    scores[f"{network.metric_name}_reconstructions"] = network.fid(reference, reconstruct_images(run.system, test))
    scores[f"{network.metric_name}_train_vs_test"] = network.fid(reference, training_images(data, samples, run.config.train.seed))
    scores.update(sampler_fids(run.system, data, network, samples, PYTHAE_SAMPLERS, seed=run.config.train.seed,
                               validation=True))
    atomic_write_json(metrics_path, {**metrics, **scores, "pythae_fid_samples": budget.fid_samples,
                                     "fid_feature_accuracy": network.test_accuracy})
    say(f"{folder.name}: {network.metric_name} GMM sampler {scores[network.metric_name + '_sampler_gmm']:.2f}")


SCORERS = {"generation": add_generation_scores, "selfvae": add_bits_per_dim, "likelihood": add_likelihood_estimates,
           "pythae": add_pythae_scores}
