"""Evaluation of a fitted run: its representation (kNN, probes, clustering, style retention), its generative fit
(reconstruction, importance-weighted NLL, bits/dim, PSIS k̂) and its posterior (KL, mutual information, active
units). Discriminative systems (no decoder, no q(z | x)) get the representation metrics only."""
from __future__ import annotations

import contextlib
import time
from typing import Callable

from ppl_ssl.config import AugmentConfig, EvalConfig
from ppl_ssl.data import DataSplits, as_float
from ppl_ssl.evaluation.attributes import attribute_probe_scores, balanced_attributes
from ppl_ssl.evaluation.diagnostics import active_units, aggregate_log_density, posterior_diagnostics, site_terms
from ppl_ssl.evaluation.fid import FeatureNetwork, cached_feature_network, frechet_distance
from ppl_ssl.evaluation.generation import class_conditional_codes, generation_scores
from ppl_ssl.evaluation.likelihood import (bits_per_dim, importance_log_weights, importance_weighted_nll, psis_khat,
                                           reconstruction_mse, held_out_log_likelihood)
from ppl_ssl.evaluation.style import augmented_views, evaluate_style, style_probe_scores
from ppl_ssl.evaluation.representation import (Features, cluster_accuracy, embed, evaluate_representation, extract_features,
                                               gmm_scores, knn_accuracy, part_scores, probe_accuracy)

__all__ = [
    "FeatureNetwork", "Features", "StageClock", "active_units", "attribute_probe_scores", "balanced_attributes", "cached_feature_network", "class_conditional_codes", "frechet_distance",
    "generation_scores", "aggregate_log_density", "bits_per_dim", "cluster_accuracy", "embed", "evaluate",
    "evaluate_generative", "evaluate_representation", "extract_features", "gmm_scores", "importance_log_weights",
    "importance_weighted_nll", "knn_accuracy", "part_scores", "posterior_diagnostics", "probe_accuracy", "psis_khat",
    "reconstruction_mse", "held_out_log_likelihood", "site_terms", "augmented_views", "evaluate_style", "style_probe_scores",
]


class StageClock:
    """Times the stages of an evaluation (`with clock("kNN"): ...`): their seconds go to metrics.json
    (`eval_stage_seconds`), and `say`, when given, hears one line per stage as it ends."""

    def __init__(self, say: Callable[[str], None] | None = None):
        self.seconds: dict[str, float] = {}
        self.say = say

    @contextlib.contextmanager
    def __call__(self, name: str):
        started = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
        if self.say is not None:
            self.say(f"evaluation: {name} {time.perf_counter() - started:.1f} s")


def evaluate_generative(system, data: DataSplits, config: EvalConfig, history: list[dict],
                        stage=contextlib.nullcontext) -> dict:
    """Reconstruction error, final ELBO terms, posterior diagnostics and (if eval.nll_samples > 0) the test NLL."""
    system.eval()
    with stage("reconstruction"):
        metrics: dict = {"reconstruction_mse": reconstruction_mse(system, data.test_x)}
    if history:
        last = history[-1]
        metrics.update({"elbo": last["elbo"], "elbo_reconstruction": last["reconstruction"],
                        "elbo_log_prior": last["log_prior"], "elbo_entropy": last["entropy"], **training_summary(history)})
    if config.diagnostics_points > 0:
        with stage("posterior diagnostics"):
            images = as_float(data.test_x[: config.diagnostics_points])
            metrics.update(posterior_diagnostics(system, images))
            if system.has_density and system.model.observes_images:  # an ELBO needs the likelihood's term
                metrics["elbo_terms"] = site_terms(system, images)  # per level for hierarchical programs (selfVAE)
                metrics["test_elbo"] = sum(v if k.startswith("re_") else -v for k, v in metrics["elbo_terms"].items())
    if config.nll_samples > 0:
        with stage("NLL"):
            images = data.test_x[: config.nll_test_images] if config.nll_test_images else data.test_x
            metrics.update(held_out_log_likelihood(system, images, config.nll_samples))
    return metrics


def evaluate(system, data: DataSplits, config: EvalConfig, history: list[dict], seed: int = 0,
             augment: AugmentConfig | None = None, clock: StageClock | None = None) -> tuple[dict, Features]:
    """All metrics of a fitted system, as written to metrics.json. `augment`: the augmentation whose parameters the
    style probe predicts (the run's own; default: the built-in crop + flip settings). `clock` times the stages."""
    system.eval()
    stage = clock or StageClock()
    if all(bool((labels >= 0).any()) for labels in (data.train_y, data.val_y, data.test_y)):
        metrics, features = evaluate_representation(system.encode, data, config, seed, stage)
    else:  # a user's unlabelled images: what needs labels is skipped, and the metrics say so
        metrics, features = {"skipped": "kNN, linear/MLP probes and GMM clustering: the data has no labels in every "
                                        "split"}, None
    parts = system.code_parts
    if features is not None and parts and len(parts) > 1:  # a hierarchical representation is also scored level by level
        with stage("levels"):
            metrics.update(part_scores(features, parts, config, seed, data.train_x.device))
    if data.attributes is not None and config.attribute_probes > 0:
        with stage("attribute probes"):
            metrics.update(attribute_probe_scores(system.encode, data, config.attribute_probes, config.probe_epochs,
                                                  config.probe_lr, config.probe_batch_size, seed))
    if config.style_probe:
        with stage("style probe"):
            metrics.update(evaluate_style(system.encode, data, augment or AugmentConfig(), seed))
    if system.can_decode:
        metrics.update(evaluate_generative(system, data, config, history, stage))
    elif history:
        metrics.update({"loss": history[-1]["loss"], **training_summary(history)})
    metrics["eval_stage_seconds"] = dict(stage.seconds)
    return metrics, features


def training_summary(history: list[dict]) -> dict:
    """Epochs trained and the training seconds they took, from the per-epoch history, and the last validation scores
    tracked during training (`train.track_every`), which choose settings without looking at the test split."""
    tracked = [h for h in history if "val_knn_accuracy" in h]
    last = {k: tracked[-1][k] for k in ("val_knn_accuracy", "val_gmm_accuracy")} if tracked else {}
    return {"epochs": history[-1]["epoch"], "train_seconds": float(sum(h["seconds"] for h in history)), **last}
