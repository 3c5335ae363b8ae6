"""Representation quality during training (`train.track_every`): kNN and GMM accuracy on the validation split,
so that a curve against epochs shows where a model is going without ever looking at the test split.

kNN: neighbours among the training images' representations, the best k in 1..`eval.knn_max_k` on the
validation split (the curve is therefore the validation score of the k that `knn_accuracy` would choose, not a
held-out estimate). GMM: full covariance, the true number of classes, one initialisation, fitted on the training
representations and scored on the validation ones by Hungarian matching. Posterior diagnostics (for a model with
a density): MI I_q(x; z), KL and active units on the first `eval.diagnostics_points` validation images, one code
drawn per image from a generator of its own (the CR-VAE paper's Figure 4 draws MI against epochs).
"""
from __future__ import annotations

import numpy as np
import torch

from ppl_ssl.data import DataSplits, as_float
from ppl_ssl.evaluation.diagnostics import posterior_diagnostics
from ppl_ssl.evaluation.representation import (Features, cluster_accuracy, fit_gaussian_mixture, knn_validation_scores,
                                                split_features)


@torch.no_grad()
def tracked_scores(system, data: DataSplits, config, seed: int = 0) -> dict[str, float]:
    """{"val_knn_accuracy", "val_knn_k", "val_gmm_accuracy"} of the system's current representation (kNN as
    `config.eval` sets it), and for a model with a density "val_mutual_information", "val_kl", "val_active_units"."""
    evaluation = config.eval
    was_training = system.training
    system.eval()
    try:
        train, val = (split_features(system.encode, data, split) for split in ("train", "val"))
        diagnostics = {}
        if system.has_density and evaluation.diagnostics_points:
            with torch.random.fork_rng(devices=[data.val_x.device] if data.val_x.device.type == "cuda" else []):
                torch.manual_seed(seed)  # the same draws at every epoch, and none taken from training's generator
                found = posterior_diagnostics(system, as_float(data.val_x[: evaluation.diagnostics_points]))
            diagnostics = {f"val_{k}": found[k] for k in ("mutual_information", "kl", "active_units")
                           if found.get(k) is not None}
    finally:
        system.train(was_training)
    f = Features(*train, *val, test=val[0][:0], test_y=val[1][:0])  # the test split is never looked at
    if evaluation.knn_k:  # a fixed k: its validation score
        scores = knn_validation_scores(f, evaluation.knn_k, evaluation.knn_metric, evaluation.knn_weights)[-1:]
        best_k = min(evaluation.knn_k, len(f.train))
    else:
        scores = knn_validation_scores(f, evaluation.knn_max_k, evaluation.knn_metric, evaluation.knn_weights)
        best_k = int(np.argmax(scores)) + 1
    tracked = {"val_knn_accuracy": float(scores.max()), "val_knn_k": best_k, **diagnostics}
    try:
        gmm, _ = fit_gaussian_mixture(f.train, data.spec.num_classes, n_init=1, seed=seed, ridges=(1e-3, 1e-1))
        tracked["val_gmm_accuracy"] = cluster_accuracy(f.val_y, gmm.predict(f.val.astype(np.float64)))
    except ValueError:  # a representation too collapsed for any ridge: no GMM score this epoch, training goes on
        pass
    return tracked
