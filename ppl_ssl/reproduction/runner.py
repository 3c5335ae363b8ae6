"""Train and evaluate a suite's runs: ordinary run folders, skipped when finished and resumed when interrupted, so a
killed reproduction loses at most the epoch in progress. Runs are shared between suites with the same budget and
dataset (table1's VAE is generation's VAE). A run that an earlier report records (`recorded`), made with the settings
the run would have now, is taken from that report instead of being trained again: seeds run on other machines, or
at other times, join one report."""
from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ppl_ssl.config import build_config
from ppl_ssl.errors import ConfigError
from ppl_ssl.evaluation.fid import cached_feature_network
from ppl_ssl.evaluation.generation import generation_scores, reconstruct_images, sampler_fids, training_images
from ppl_ssl.evaluation.likelihood import reconstruction_mse
from ppl_ssl.evaluation.tightness import estimate_tightness
from ppl_ssl.pipeline import evaluate_run
from ppl_ssl.progress import say
from ppl_ssl.provenance import same_settings
from ppl_ssl.reporting import ensure_run
from ppl_ssl.reproduction.budgets import Budget
from ppl_ssl.reproduction.suites import PYTHAE_SAMPLERS, RunSpec, Suite
from ppl_ssl.storage import atomic_write_json, read_json
from ppl_ssl.runs import load_run
from ppl_ssl.train.setup import load_data_for


@dataclass
class RunResult:
    spec: RunSpec
    folder: Path
    metrics: dict
    recorded: bool = False  # taken from an earlier report: `folder` may not exist here (no checkpoint, no history)


def runs_folder(out: Path, budget: Budget, dataset: str, assignments: list[str]) -> Path:
    """OUT/BUDGET/DATASET, with a tag of the user's --set assignments so that differently configured runs never mix."""
    tag = "-set" + hashlib.sha1("\n".join(assignments).encode()).hexdigest()[:8] if assignments else ""
    return out / f"{budget.name}{tag}" / dataset


def method_kind(model: str) -> str:
    return build_config(model).method.kind


def recorded_runs(paths: str | Path | Sequence[str | Path], budget: Budget) -> dict[str, dict]:
    """{run folder relative to its report's folder: metrics} of every run that the reports at `paths` (report.json
    files, one or several) hold in a section of `budget` (by name: what a run trains with is in its settings' digest,
    what the suite adds to it is checked by its scorer); a run in several sections (table1's VAE is generation's) or
    several reports has the union of their metrics, a later report's values over an earlier's, each section holding
    metrics.json as it was when that section was written."""
    runs: dict[str, dict] = {}
    for path in [paths] if isinstance(paths, (str, Path)) else paths:
        report = read_json(Path(path), default=None)
        if not isinstance(report, dict) or not isinstance(report.get("sections"), dict):
            raise ConfigError(f"--recorded {path}: not a report.json written by `ppl-ssl reproduce` (no 'sections'); "
                              "give the report.json of an earlier reproduction")
        for section in report["sections"].values():
            if str(section.get("budget", "")).startswith(f"budget '{budget.name}':"):
                for folder, metrics in section.get("runs", {}).items():
                    runs[folder] = {**runs.get(folder, {}), **metrics}
    return runs


def run_suite(suite: Suite, budget: Budget, dataset: str, seeds: list[int], out: Path, device: str = "auto",
              precision: str | None = None, assignments: list[str] | None = None, progress: bool = False,
              recorded: dict[str, dict] | None = None) -> list[RunResult]:
    """The suite's runs at these seeds, each from its folder under OUT (trained and scored there unless it is
    finished), or from `recorded` (`recorded_runs`) where that holds it, scored and made with the same settings
    (`provenance.same_settings`), and its folder here holds no finished run."""
    assignments = list(assignments or [])
    folder_root = runs_folder(out, budget, dataset, assignments)
    kinds = {model: method_kind(model) for model, *_ in suite.runs}
    scorer = SCORERS.get(suite.scorer)
    results = []
    for spec in suite.specs(seeds):
        overrides = {**budget.overrides(kinds[spec.model], suite.kind), "data.dataset": dataset, "train.seed": spec.seed,
                     "train.device": device, **({"train.precision": precision} if precision else {})}
        folder = folder_root / spec.folder
        record = (recorded or {}).get(folder.relative_to(out).as_posix())
        if record is not None and not (folder / "metrics.json").exists() and (scorer is None or scorer.done(record, budget)):
            config = build_config(spec.model, overrides, [*spec.assignments, *assignments])
            if same_settings(record, config):
                results.append(RunResult(spec, folder, record, recorded=True))
                continue
            why = "other settings" if "config_digest" in record else "no record of its settings (an older ppl-ssl)"
            say(f"{folder.relative_to(out)}: the recorded run has {why}; training it here")
        ensure_run(spec.model, folder, overrides, [*spec.assignments, *assignments], progress)
        metrics = read_json(folder / "metrics.json")
        if scorer is not None and not scorer.done(metrics, budget):
            started = time.perf_counter()
            scorer.add(folder, budget, out, device, progress)  # merges its scores into metrics.json
            metrics = {**read_json(folder / "metrics.json"), "scoring_seconds": time.perf_counter() - started}
            atomic_write_json(folder / "metrics.json", metrics)
        results.append(RunResult(spec, folder, metrics))
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
    metrics = read_json(metrics_path)
    run = load_run(folder, device=device)
    data = load_data_for(run.config, run.device)
    network = _feature_network(run, data, budget, out)
    metrics.update(generation_scores(run.system, data, network, budget.fid_samples, seed=run.config.train.seed))
    atomic_write_json(metrics_path, metrics)
    say(f"{folder.name}: {network.metric_name} class-conditional {metrics[network.metric_name + '_class_conditional']:.2f}")


def add_bits_per_dim(folder: Path, budget: Budget, out: Path, device: str, progress: bool = False) -> None:
    """Importance-weighted test bits/dim with the budget's samples (merged into metrics.json once)."""
    evaluate_run(folder, device=device, make_figures=False, nll_samples=budget.nll_samples, nll_images=budget.nll_images,
                 representation=False)


def add_likelihood_estimates(folder: Path, budget: Budget, out: Path, device: str, progress: bool = False) -> None:
    """IW, AIS and BDMC estimates of the budget's protocol: RUN/likelihood.json (with the NLL-against-compute rows)
    and the summary merged into metrics.json (once per protocol)."""
    metrics_path = folder / "metrics.json"
    metrics = read_json(metrics_path)
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
    metrics = read_json(metrics_path)
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
                                     **network.provenance()})
    say(f"{folder.name}: {network.metric_name} GMM sampler {scores[network.metric_name + '_sampler_gmm']:.2f}")


@dataclass(frozen=True)
class Scorer:
    """What a suite adds to each finished run's metrics.json: `done(metrics, budget)` says whether the metrics
    already hold it at this budget (a run on disk or one recorded in a report alike), `add` computes and merges it."""
    done: Callable[[dict, Budget], bool]
    add: Callable[[Path, Budget, Path, str, bool], None]


SCORERS = {
    "generation": Scorer(lambda m, b: m.get("fid_samples") == b.fid_samples, add_generation_scores),
    "selfvae": Scorer(lambda m, b: m.get("nll_samples") == b.nll_samples and m.get("nll_images") == b.nll_images,
                      add_bits_per_dim),
    "likelihood": Scorer(lambda m, b: m.get("likelihood_protocol") == b.likelihood.describe(), add_likelihood_estimates),
    "pythae": Scorer(lambda m, b: m.get("pythae_fid_samples") == b.fid_samples, add_pythae_scores),
}
