"""Style retention: how much of an augmentation's *parameters* a representation keeps (the SimVAE paper's H2).

Each validation and test image is augmented once with known random parameters (crop area, aspect ratio and
centre, flips, colour jitter where the config applies them) and encoded. A probe trained on the validation
views predicts each parameter from the representation; it is scored on the test views: R² for continuous
parameters, accuracy for flips (chance: the majority rate, reported beside it). A representation invariant to
the augmentation scores R² ≈ 0 and chance accuracy; one that keeps the style scores higher.

The probes are scikit-learn MLPs (one hidden layer of 64 units, early stopping) on standardised features: flips
and positions need not be linearly decodable from a content code. Each is fitted on 80% of the validation views;
if on the other 20% it does no better than a constant (the mean, or the majority flip), the constant is used, so
a representation without the parameter scores R² ≈ 0 and chance accuracy rather than an overfitted negative R².
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import torch
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ppl_ssl.augment import augment
from ppl_ssl.config import AugmentConfig
from ppl_ssl.data import DataSplits, as_float

CONTINUOUS = ("crop_scale", "crop_ratio", "crop_x", "crop_y", "brightness", "contrast", "saturation", "hue")
BINARY = ("hflip", "vflip")


def augmented_views(encode, images: torch.Tensor, config: AugmentConfig, seed: int,
                    batch_size: int = 2048) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One augmented view of each uint8 image, encoded: features (N, L) and each parameter (N,)."""
    generator = torch.Generator(device=images.device).manual_seed(seed)
    features, params = [], []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            views = augment(as_float(images[i : i + batch_size]), 1, config, generator)
            features.append(encode(views.images[:, 0]).float().cpu())
            params.append({k: v[:, 0].float().cpu() for k, v in views.params.items()})
    return torch.cat(features).numpy(), {k: torch.cat([p[k] for p in params]).numpy() for k in params[0]}


def style_probe_scores(train_features: np.ndarray, train_params: dict[str, np.ndarray], test_features: np.ndarray,
                       test_params: dict[str, np.ndarray], seed: int = 0) -> dict[str, float]:
    """Probe scores of every parameter that varies: style_r2_NAME (continuous), style_accuracy_NAME and
    style_chance_NAME (flips). Also style_r2_mean over the continuous ones."""
    scores: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # early stopping on held-out views decides, not max_iter
        for name in (*CONTINUOUS, *BINARY):
            _probe_one(name, train_features, train_params, test_features, test_params, seed, scores)
    r2 = [v for k, v in scores.items() if k.startswith("style_r2_")]
    if r2:
        scores["style_r2_mean"] = float(np.mean(r2))
    return scores


def _probe_one(name: str, train_features, train_params, test_features, test_params, seed: int, scores: dict) -> None:
    if name not in train_params or np.std(train_params[name]) < 1e-6:
        return  # the augmentation does not vary this parameter: nothing to probe
    binary = name in BINARY
    target = train_params[name].astype(int) if binary else train_params[name]
    fit_index, held_out = _split(len(target), seed)
    mlp = (MLPClassifier if binary else MLPRegressor)(hidden_layer_sizes=(64,), max_iter=300, early_stopping=True, random_state=seed)
    probe = make_pipeline(StandardScaler(), mlp).fit(train_features[fit_index], target[fit_index])
    constant = DummyClassifier(strategy="most_frequent") if binary else DummyRegressor(strategy="mean")
    constant.fit(train_features[fit_index], target[fit_index])
    if probe.score(train_features[held_out], target[held_out]) <= constant.score(train_features[held_out], target[held_out]):
        probe = constant  # worse than a constant on held-out training views: the representation carries nothing usable
    prediction = probe.predict(test_features)
    if binary:
        truth = test_params[name].astype(int)
        scores[f"style_accuracy_{name}"] = float((prediction == truth).mean())
        scores[f"style_chance_{name}"] = float(max(truth.mean(), 1 - truth.mean()))
    else:
        scores[f"style_r2_{name}"] = float(r2_score(test_params[name], prediction))


def _split(n: int, seed: int, held_out_share: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    cut = int(round(n * (1 - held_out_share)))
    return order[:cut], order[cut:]


MIN_PROBE_IMAGES = 50  # the probes hold out a fifth, and scikit-learn's early stopping a tenth of the rest


def evaluate_style(encode, data: DataSplits, config: AugmentConfig, seed: int = 0) -> dict[str, float]:
    """Style-probe scores of a representation under the run's own augmentation (switched on if the run had none). Every
    probed view is augmented: `original_first` (CR-VAE's un-augmented view 1) is for training, and would leave the
    probes nothing that varies."""
    config = dataclasses.replace(config, enabled=True, original_first=False)
    if len(data.val_x) < MIN_PROBE_IMAGES:
        return {"style_skipped": f"the style probe needs at least {MIN_PROBE_IMAGES} validation images, the data has "
                                 f"{len(data.val_x)}"}
    train_features, train_params = augmented_views(encode, data.val_x, config, seed + 101)
    test_features, test_params = augmented_views(encode, data.test_x, config, seed + 202)
    return style_probe_scores(train_features, train_params, test_features, test_params, seed)
