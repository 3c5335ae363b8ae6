"""Evaluation of frozen representations (encoder means of un-augmented images): kNN, probes, GMM clustering.

Every choice — k of kNN, the probes' epoch — is made on the validation split; scores are reported on the test
split. Labels of -1 (e.g. CelebA images without a single hair colour) are left out of every score.
"""
from __future__ import annotations

import contextlib

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KNeighborsClassifier
from torch import nn

from ppl_ssl.config import EvalConfig
from ppl_ssl.data import DataSplits, as_float


@dataclass
class Features:
    """Representations and labels of the three splits, labelled points only, as numpy arrays."""

    train: np.ndarray
    train_y: np.ndarray
    val: np.ndarray
    val_y: np.ndarray
    test: np.ndarray
    test_y: np.ndarray


@torch.no_grad()
def embed(encode, images: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """encode() applied to uint8 images in batches -> (N, L) float tensor on the CPU."""
    return torch.cat([encode(as_float(images[i : i + batch_size])).float().cpu() for i in range(0, len(images), batch_size)])


def split_features(encode, data: DataSplits, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Representations and labels of one split's labelled images, as numpy arrays."""
    x, y = data.split(split)
    keep = (y >= 0).cpu()
    return embed(encode, x)[keep].numpy(), y.cpu()[keep].numpy()


def extract_features(encode, data: DataSplits) -> Features:
    return Features(*(part for split in ("train", "val", "test") for part in split_features(encode, data, split)))


def _fit_knn(f: Features, max_k: int, metric: str = "euclidean") -> KNeighborsClassifier:
    return KNeighborsClassifier(n_neighbors=min(max_k, len(f.train)), metric=metric).fit(f.train, f.train_y)


def knn_validation_scores(f: Features, max_k: int = 15, metric: str = "euclidean", weights: str = "uniform") -> np.ndarray:
    """Validation accuracy of k-NN for k = 1..max_k (one neighbour search for all k)."""
    return _knn_scores(_fit_knn(f, max_k, metric), f.val, f.val_y, f.train_y, max_k, weights)


def knn_accuracy(f: Features, max_k: int = 15, metric: str = "euclidean", weights: str = "uniform",
                 k: int = 0) -> tuple[float, int]:
    """Test accuracy of k-NN (scikit-learn's neighbour search; `metric` euclidean or cosine, each neighbour's vote 1
    (`weights="uniform"`) or 1/distance (`"distance"`, as scikit-learn's)) with k fixed, or, for `k = 0`, chosen in
    1..max_k on validation accuracy. Returns (accuracy, k)."""
    if k:
        knn = _fit_knn(f, k, metric)
        return float(_knn_scores(knn, f.test, f.test_y, f.train_y, k, weights)[-1]), min(k, len(f.train))
    knn = _fit_knn(f, max_k, metric)
    # One neighbour search for all k: votes of the first k neighbours, ties to the nearest neighbour's class.
    val_acc = _knn_scores(knn, f.val, f.val_y, f.train_y, max_k, weights)
    best_k = int(np.argmax(val_acc)) + 1
    test_acc = _knn_scores(knn, f.test, f.test_y, f.train_y, best_k, weights)[best_k - 1]
    return float(test_acc), best_k


def _knn_scores(knn: KNeighborsClassifier, x: np.ndarray, y: np.ndarray, train_y: np.ndarray, max_k: int,
                weights: str = "uniform") -> np.ndarray:
    """Accuracy of the vote of the first k neighbours for every k = 1..max_k, from one neighbour search."""
    distances, neighbours = knn.kneighbors(x, n_neighbors=min(max_k, len(train_y)))
    labels = train_y[neighbours]  # (N, k)
    if weights == "distance":  # scikit-learn's: 1/d, and a neighbour at distance 0 outvotes every other
        distances = distances.astype(np.float64)
        vote = np.full_like(distances, 1e300)
        np.divide(1.0, distances, out=vote, where=distances > 0)
    else:
        vote = np.ones_like(distances)
    classes = int(max(train_y.max(), y.max())) + 1
    votes = np.zeros((len(x), classes))
    scores = []
    for k in range(labels.shape[1]):
        votes[np.arange(len(x)), labels[:, k]] += vote[:, k] * (1 + 1e-6 * (k == 0))  # tie-break: nearest neighbour's class
        scores.append(float((votes.argmax(1) == y).mean()))
    return np.asarray(scores)


@dataclass(frozen=True)
class ProbeResult:
    """A probe's accuracies at the epoch of best validation accuracy, and that epoch."""
    test_accuracy: float
    val_accuracy: float
    best_epoch: int


def probe_accuracy(f: Features, hidden: int | None, epochs: int, lr: float, batch_size: int, seed: int = 0,
                   device: torch.device | str = "cpu") -> tuple[float, int]:
    """A linear (hidden=None) or one-hidden-layer ReLU probe trained with Adam on standardised features.

    Returns the test accuracy at the epoch of best validation accuracy, and that epoch."""
    result = train_probe(f, hidden, epochs, lr, batch_size, seed, device)
    return result.test_accuracy, result.best_epoch


def train_probe(f: Features, hidden: int | None, epochs: int, lr: float, batch_size: int, seed: int = 0,
                device: torch.device | str = "cpu") -> ProbeResult:
    """`probe_accuracy`, with the validation accuracy that chose the epoch (a configuration chosen on validation,
    as Pythae's classification task does, needs it)."""
    gen = torch.Generator().manual_seed(seed)
    mean, std = f.train.mean(0), f.train.std(0) + 1e-8
    as_tensor = lambda a: torch.as_tensor((a - mean) / std, dtype=torch.float32, device=device)  # noqa: E731
    xtr, xva, xte = as_tensor(f.train), as_tensor(f.val), as_tensor(f.test)
    ytr = torch.as_tensor(f.train_y, device=device)
    classes = int(max(f.train_y.max(), f.val_y.max(), f.test_y.max())) + 1
    dim = xtr.shape[1]
    with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching the caller's RNG:
        torch.random.default_generator.manual_seed(seed)  # the CPU's alone (torch.manual_seed would reseed every GPU)
        probe = nn.Linear(dim, classes) if hidden is None else nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, classes))
    probe.to(device)
    optimiser = torch.optim.Adam(probe.parameters(), lr=lr)
    best = (-1.0, 0, 0.0)  # validation accuracy, epoch, test accuracy
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(xtr), generator=gen).to(device)
        for i in range(0, len(xtr), batch_size):
            idx = order[i : i + batch_size]
            loss = nn.functional.cross_entropy(probe(xtr[idx]), ytr[idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            val = float((probe(xva).argmax(1).cpu().numpy() == f.val_y).mean())
            if val > best[0]:
                best = (val, epoch, float((probe(xte).argmax(1).cpu().numpy() == f.test_y).mean()))
    return ProbeResult(test_accuracy=best[2], val_accuracy=best[0], best_epoch=best[1])


LOGISTIC_C = (0.01, 0.1, 1.0, 10.0, 100.0)  # inverse L2 strengths tried by the scikit-learn linear probe
MLP_ALPHA = (1e-4, 1e-3, 1e-2, 1e-1)  # L2 strengths tried by the scikit-learn MLP probe


def sklearn_probe_accuracy(f: Features, hidden: int | None, seed: int = 0) -> tuple[float, float]:
    """scikit-learn's probe on standardised features: logistic regression (hidden=None; lbfgs to convergence) or a
    one-hidden-layer MLP (Adam, early stopping), its L2 strength chosen on the validation split. Returns the test
    accuracy at the chosen strength, and that strength (C for the linear probe, alpha for the MLP). Solved to
    convergence, it cannot underfit by stopping early, which the paper's fixed-epoch Adam probe can on small data."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(f.train)
    train, val, test = (scaler.transform(a) for a in (f.train, f.val, f.test))
    best = (-1.0, 0.0, None)
    for strength in (LOGISTIC_C if hidden is None else MLP_ALPHA):
        probe = (LogisticRegression(C=strength, max_iter=2000) if hidden is None else
                 MLPClassifier((hidden,), alpha=strength, max_iter=200, early_stopping=True, random_state=seed))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # the validation split judges the fit either way
            probe.fit(train, f.train_y)
        val_accuracy = float((probe.predict(val) == f.val_y).mean())
        if val_accuracy > best[0]:
            best = (val_accuracy, strength, probe)
    return float((best[2].predict(test) == f.test_y).mean()), best[1]


def cluster_accuracy(truth: np.ndarray, clusters: np.ndarray) -> float:
    """Accuracy under the best one-to-one matching of clusters to classes (Hungarian algorithm)."""
    size = int(max(truth.max(), clusters.max())) + 1
    counts = np.zeros((size, size), dtype=np.int64)
    np.add.at(counts, (clusters, truth), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / len(truth))


def fit_gaussian_mixture(train: np.ndarray, n_classes: int, n_init: int, seed: int = 0,
                         ridges: tuple[float, ...] = (1e-5, 1e-3, 1e-1)) -> tuple[GaussianMixture, float]:
    """A full-covariance Gaussian mixture fitted on `train` (float64), and the ridge it needed.

    A representation with (nearly) collapsed directions makes some component's covariance singular; the ridge
    added to the covariances then grows through `ridges` until the fit succeeds (ValueError if none does)."""
    train = train.astype(np.float64)
    for reg_covar in ridges:
        gmm = GaussianMixture(n_components=n_classes, covariance_type="full", n_init=n_init, random_state=seed,
                              reg_covar=reg_covar)
        try:
            return gmm.fit(train), reg_covar
        except ValueError:  # "ill-defined empirical covariance": retry with a larger ridge
            if reg_covar == ridges[-1]:
                raise


def gmm_scores(f: Features, n_classes: int, n_init: int, seed: int = 0) -> dict[str, float]:
    """Full-covariance Gaussian mixture with the true number of classes, fitted on training features, scored on the
    test features by the best matching of clusters to classes (`fit_gaussian_mixture`; the ridge: `gmm_reg_covar`)."""
    gmm, reg_covar = fit_gaussian_mixture(f.train, n_classes, n_init, seed)
    clusters = gmm.predict(f.test.astype(np.float64))
    return {"gmm_accuracy": cluster_accuracy(f.test_y, clusters),
            "gmm_nmi": float(normalized_mutual_info_score(f.test_y, clusters)),
            "gmm_ari": float(adjusted_rand_score(f.test_y, clusters)), "gmm_reg_covar": reg_covar}


def evaluate_representation(encode, data: DataSplits, config: EvalConfig, seed: int = 0,
                            stage=contextlib.nullcontext) -> tuple[dict, Features]:
    """kNN, linear and MLP probes (those in `config.probes`), GMM clustering of the encoder's representation.
    `stage(name)`: a context that times each stage (`ppl_ssl.evaluation.StageClock`)."""
    with stage("encode"):
        f = extract_features(encode, data)
    with stage("kNN"):
        knn, best_k = knn_accuracy(f, config.knn_max_k, config.knn_metric, config.knn_weights, config.knn_k)
    metrics = {"knn_accuracy": knn, "knn_best_k": best_k}
    probe_device = data.train_x.device
    metrics["probe"] = config.probe
    chosen = [(f"{kind}_probe", None if kind == "linear" else f.train.shape[1]) for kind in ("linear", "mlp")
              if kind in config.probes]
    for name, hidden in chosen:
        with stage(name.replace("_", " ")):
            if config.probe == "sklearn":
                acc, strength = sklearn_probe_accuracy(f, hidden, seed)
                metrics[f"{name}_accuracy"], metrics[f"{name}_{'C' if hidden is None else 'alpha'}"] = acc, strength
                continue
            runs = [train_probe(f, hidden, config.probe_epochs, config.probe_lr, config.probe_batch_size, seed + run,
                                probe_device) for run in range(config.probe_runs)]
        epoch = runs[0].best_epoch
        metrics[f"{name}_accuracy"], metrics[f"{name}_best_epoch"] = runs[0].test_accuracy, epoch
        metrics[f"val_{name}_accuracy"] = runs[0].val_accuracy
        if config.probe_runs > 1:  # Pythae's classification task: the mean over runs of the probe from other seeds
            accuracies = [r.test_accuracy for r in runs]
            metrics[f"{name}_accuracy"] = float(np.mean(accuracies))
            metrics[f"{name}_accuracy_sd"] = float(np.std(accuracies, ddof=1))
            metrics[f"val_{name}_accuracy"] = float(np.mean([r.val_accuracy for r in runs]))
            epoch = max(r.best_epoch for r in runs)
        if epoch == config.probe_epochs:  # the best validation accuracy came at the last epoch: it may still be rising
            metrics[f"{name}_still_improving"] = True
            metrics.setdefault("warnings", []).append(
                f"the {name.replace('_', ' ')} was still improving at its last epoch ({epoch}); raise "
                f"eval.probe_epochs or use eval.probe=sklearn")
    with stage("GMM"):
        metrics.update(_gmm_or_why_not(f, data, config, seed))
    if config.kmeans_runs and len(f.train) >= data.spec.num_classes:
        with stage("k-means"):
            metrics.update(kmeans_scores(f, data.spec.num_classes, config.kmeans_runs, seed))
    return metrics, f


def majority_label_accuracy(truth: np.ndarray, clusters: np.ndarray) -> float:
    """Accuracy when each cluster is given the label most of its members have (Pythae's clustering score; several
    clusters may take the same label, unlike `cluster_accuracy`'s one-to-one matching)."""
    correct = sum(int(np.bincount(truth[clusters == c]).max()) for c in np.unique(clusters))
    return correct / len(truth)


def kmeans_scores(f: Features, n_clusters: int, runs: int, seed: int = 0) -> dict[str, float]:
    """Pythae's Task 4: `runs` separate k-means fits (one initialisation each, k = the number of classes) on the
    training representations, each scored by majority label on them; the mean and standard deviation over runs.
    The same on the validation representations (`val_kmeans_accuracy`), on which a configuration can be chosen
    without looking at the training score it reports."""
    from sklearn.cluster import KMeans

    def mean_and_sd(codes: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
        codes = codes.astype(np.float64)
        scores = [majority_label_accuracy(labels, KMeans(n_clusters, n_init=1, random_state=seed + run).fit_predict(codes))
                  for run in range(runs)]
        return float(np.mean(scores)), float(np.std(scores, ddof=1)) if runs > 1 else 0.0

    train, train_sd = mean_and_sd(f.train, f.train_y)
    scores = {"kmeans_accuracy": train, "kmeans_accuracy_sd": train_sd, "kmeans_runs": runs}
    if len(f.val) >= n_clusters:
        scores["val_kmeans_accuracy"] = mean_and_sd(f.val, f.val_y)[0]
    return scores


def _gmm_or_why_not(f: Features, data: DataSplits, config: EvalConfig, seed: int) -> dict:
    metrics: dict = {}
    if len(f.train) >= data.spec.num_classes:
        metrics.update(gmm_scores(f, data.spec.num_classes, config.gmm_n_init, seed))
    else:  # a mixture of one component per class cannot be fitted to fewer points than components
        metrics["gmm_skipped"] = (f"the GMM fits one component per class: {len(f.train)} labelled training images "
                                  f"for {data.spec.num_classes} classes are too few")
    return metrics


def part_scores(f: Features, parts: tuple[str, ...], config: EvalConfig, seed: int = 0, device=None) -> dict[str, float]:
    """kNN and linear-probe accuracy of each of equal-width parts of the representation (a hierarchical model's
    codes per level, e.g. selfVAE's u and z_k): keys knn_accuracy_NAME, linear_probe_accuracy_NAME."""
    width = f.train.shape[1] // len(parts)
    scores: dict[str, float] = {}
    for i, name in enumerate(parts):
        columns = slice(i * width, (i + 1) * width)
        part = Features(f.train[:, columns], f.train_y, f.val[:, columns], f.val_y, f.test[:, columns], f.test_y)
        scores[f"knn_accuracy_{name}"] = knn_accuracy(part, config.knn_max_k, config.knn_metric, config.knn_weights,
                                                      config.knn_k)[0]
        scores[f"linear_probe_accuracy_{name}"] = probe_accuracy(part, None, config.probe_epochs, config.probe_lr,
                                                                 config.probe_batch_size, seed, device)[0]
    return scores
