"""Representation quality during training (`train.track_every`): kNN and GMM accuracy on the validation split,
so that a curve against epochs shows where a model is going without ever looking at the test split.

kNN: neighbours among the training images' representations, the best k in 1..`eval.knn_max_k` on the
validation split (the curve is therefore the validation score of the k that `knn_accuracy` would choose, not a
held-out estimate). GMM: full covariance, the true number of classes, one initialisation, fitted on the training
representations and scored on the validation ones by Hungarian matching.
"""
from __future__ import annotations

import numpy as np
import torch

from ppl_ssl.data import DataSplits
from ppl_ssl.evaluation.representation import Features, cluster_accuracy, knn_validation_scores, split_features
from sklearn.mixture import GaussianMixture


@torch.no_grad()
def tracked_scores(system, data: DataSplits, knn_max_k: int, seed: int = 0) -> dict[str, float]:
    """{"val_knn_accuracy", "val_knn_k", "val_gmm_accuracy"} of the system's current representation."""
    was_training = system.training
    system.eval()
    try:
        train, val = (split_features(system.encode, data, split) for split in ("train", "val"))
    finally:
        system.train(was_training)
    f = Features(*train, *val, test=val[0][:0], test_y=val[1][:0])  # the test split is never looked at
    scores = knn_validation_scores(f, knn_max_k)
    gmm = GaussianMixture(n_components=data.spec.num_classes, covariance_type="full", n_init=1, random_state=seed,
                          reg_covar=1e-3).fit(f.train.astype(np.float64))
    return {"val_knn_accuracy": float(scores.max()), "val_knn_k": int(np.argmax(scores)) + 1,
            "val_gmm_accuracy": cluster_accuracy(f.val_y, gmm.predict(f.val.astype(np.float64)))}
