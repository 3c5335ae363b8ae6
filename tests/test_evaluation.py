"""Evaluation metrics on representations whose answer is known."""
import dataclasses

import numpy as np
import pytest
import torch

from ppl_ssl.config import EvalConfig
from ppl_ssl.evaluation import Features, cluster_accuracy, gmm_scores, knn_accuracy, part_scores, probe_accuracy


def planted(n_train=600, n_val=200, n_test=300, dim=6, classes=4, signal=3.0, seed=0, onehot=True) -> Features:
    """Noise features with the class planted: `signal` × one-hot(class) in the first dims (or signal × class in dim 0)."""
    rng = np.random.default_rng(seed)

    def split(n):
        y = rng.integers(0, classes, n)
        x = rng.normal(size=(n, dim))
        if onehot:
            x[np.arange(n), y] += signal
        else:
            x[:, 0] += signal * y
        return x.astype(np.float32), y

    return Features(*split(n_train), *split(n_val), *split(n_test))


def test_cluster_accuracy_is_invariant_to_relabelling():
    truth = np.array([0, 0, 1, 1, 2, 2, 2])
    assert cluster_accuracy(truth, np.array([2, 2, 0, 0, 1, 1, 1])) == 1.0
    assert cluster_accuracy(truth, np.array([0, 0, 0, 0, 0, 0, 0])) == pytest.approx(3 / 7)


def test_knn_finds_planted_classes_and_picks_k_on_validation():
    acc, k = knn_accuracy(planted(signal=6.0), max_k=15)
    assert acc > 0.95 and 1 <= k <= 15
    noise, _ = knn_accuracy(planted(signal=0.0), max_k=15)
    assert noise < 0.4  # chance is 0.25


def test_knn_with_k_1_is_nearest_neighbour():
    f = Features(np.array([[0.0], [10.0]]), np.array([0, 1]), np.array([[1.0], [9.0]]), np.array([0, 1]),
                 np.array([[2.0], [8.0], [4.0]]), np.array([0, 1, 0]))
    assert knn_accuracy(f, max_k=1) == (1.0, 1)


@pytest.mark.parametrize("metric, weights", [("euclidean", "uniform"), ("euclidean", "distance"),
                                             ("cosine", "uniform"), ("cosine", "distance")])
def test_knn_with_a_fixed_k_predicts_as_scikit_learns_classifier(metric, weights):
    from sklearn.neighbors import KNeighborsClassifier

    f = planted(signal=1.0, classes=2, seed=3)  # overlapping classes: votes and weights decide; 2 classes, k odd: no ties
    accuracy, k = knn_accuracy(f, metric=metric, weights=weights, k=25)
    reference = KNeighborsClassifier(25, metric=metric, weights=weights).fit(f.train, f.train_y)
    assert k == 25 and accuracy == float((reference.predict(f.test) == f.test_y).mean())
    assert 0.6 < accuracy < 0.95


def test_cosine_knn_sees_directions_where_euclidean_sees_lengths():
    # class = direction (angle 0 or π/2), lengths drawn from a wide range: cosine neighbours ignore the length
    rng = np.random.default_rng(0)

    def split(n):
        y = rng.integers(0, 2, n)
        angle = np.where(y == 0, 0.0, np.pi / 2) + rng.normal(0, 0.3, n)
        length = rng.uniform(0.1, 10.0, n)
        return np.stack([length * np.cos(angle), length * np.sin(angle)], 1).astype(np.float32), y

    f = Features(*split(400), *split(100), *split(300))
    cosine, _ = knn_accuracy(f, metric="cosine", weights="distance", k=200)
    euclidean, _ = knn_accuracy(f, metric="euclidean", k=200)
    assert cosine > 0.9 and cosine > euclidean + 0.05


@pytest.mark.parametrize("hidden", [None, 6])
def test_probes_recover_a_planted_label_and_score_chance_without_it(hidden):
    acc, epoch = probe_accuracy(planted(signal=4.0), hidden, epochs=30, lr=3e-3, batch_size=64)
    assert acc > 0.9 and 1 <= epoch <= 30
    chance, _ = probe_accuracy(planted(signal=0.0), hidden, epochs=10, lr=3e-3, batch_size=64)
    assert chance < 0.4


def test_gmm_clusters_separated_blobs():
    scores = gmm_scores(planted(signal=12.0, dim=2, onehot=False), n_classes=4, n_init=2)
    assert scores["gmm_accuracy"] > 0.95 and scores["gmm_nmi"] > 0.85 and scores["gmm_ari"] > 0.85
    noise = gmm_scores(planted(signal=0.0, dim=2, onehot=False), n_classes=4, n_init=1)
    assert noise["gmm_nmi"] < 0.1 and abs(noise["gmm_ari"]) < 0.1


def test_part_scores_find_the_level_that_carries_the_class():
    """A hierarchical code [u, z]: the class planted in u only; z is noise of the same width."""
    u = planted(signal=6.0, dim=4, seed=1)
    rng = np.random.default_rng(2)
    join = lambda a: np.concatenate([a, rng.normal(size=a.shape).astype(np.float32)], axis=1)  # noqa: E731
    f = Features(join(u.train), u.train_y, join(u.val), u.val_y, join(u.test), u.test_y)
    scores = part_scores(f, ("u", "z1"), EvalConfig(probe_epochs=20, probe_lr=3e-3, probe_batch_size=64))
    assert set(scores) == {"knn_accuracy_u", "linear_probe_accuracy_u", "knn_accuracy_z1", "linear_probe_accuracy_z1"}
    assert scores["knn_accuracy_u"] > 0.9 and scores["linear_probe_accuracy_u"] > 0.9
    assert scores["knn_accuracy_z1"] < 0.4 and scores["linear_probe_accuracy_z1"] < 0.4  # chance: 0.25


def _pixel_features():
    from ppl_ssl.data import load_dataset
    from ppl_ssl.evaluation.representation import Features

    d = load_dataset("digits", val_size=200)
    x = lambda t: t.float().flatten(1).numpy() / 255  # noqa: E731
    return d, Features(x(d.train_x), d.train_y.numpy(), x(d.val_x), d.val_y.numpy(), x(d.test_x), d.test_y.numpy())


def test_the_sklearn_probe_solves_to_convergence_with_its_strength_chosen_on_validation():
    from ppl_ssl.evaluation.representation import LOGISTIC_C, probe_accuracy, sklearn_probe_accuracy

    _, f = _pixel_features()
    accuracy, strength = sklearn_probe_accuracy(f, None, seed=0)
    assert strength in LOGISTIC_C and accuracy > 0.9  # digits' pixels are nearly linearly separable
    short_adam, _ = probe_accuracy(f, None, epochs=3, lr=3e-4, batch_size=128)
    assert accuracy > short_adam + 0.1  # the fixed-epoch Adam probe underfits when stopped early


def test_an_adam_probe_still_improving_at_its_last_epoch_is_flagged():
    from ppl_ssl.config import EvalConfig
    from ppl_ssl.evaluation.representation import evaluate_representation

    data, f = _pixel_features()
    config = dataclasses.replace(EvalConfig(), probe_epochs=1, gmm_n_init=1)
    encode = lambda x: x.float().flatten(1)[:, :8] / 255  # noqa: E731
    metrics, _ = evaluate_representation(encode, data, config)
    assert metrics["linear_probe_still_improving"] and metrics["probe"] == "adam"
    assert any("linear probe was still improving at its last epoch (1)" in w for w in metrics["warnings"])
    sklearn, _ = evaluate_representation(encode, data, dataclasses.replace(config, probe="sklearn"))
    assert sklearn["probe"] == "sklearn" and "linear_probe_C" in sklearn and "mlp_probe_alpha" in sklearn


def test_kmeans_by_majority_label_finds_planted_clusters_and_scores_noise_near_chance():
    from ppl_ssl.evaluation.representation import kmeans_scores, majority_label_accuracy

    assert majority_label_accuracy(np.array([0, 0, 1, 1, 1]), np.array([5, 5, 5, 7, 7])) == pytest.approx(4 / 5)
    assert majority_label_accuracy(np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1])) == 0.5  # ties: either label, half right
    clear = kmeans_scores(planted(signal=8.0), 4, runs=5)
    assert clear["kmeans_accuracy"] > 0.95 and clear["kmeans_runs"] == 5 and clear["kmeans_accuracy_sd"] >= 0
    noise = kmeans_scores(planted(signal=0.0), 4, runs=5)
    assert noise["kmeans_accuracy"] < 0.4  # chance 0.25, a little above it by taking each cluster's majority
    # the same fits on the validation codes, which choose a configuration without touching the reported score
    assert clear["val_kmeans_accuracy"] > 0.95 and noise["val_kmeans_accuracy"] < 0.45


def test_kmeans_and_interpolations_run_in_a_fit_when_asked(tmp_path):
    import ppl_ssl
    from tests.conftest import tiny_config

    config = tiny_config("vae", "eval.kmeans_runs=3", "eval.interpolation_pairs=2", "eval.figures=true")
    metrics = ppl_ssl.fit_and_evaluate(config, tmp_path / "run", progress=False)
    assert 0.1 < metrics["kmeans_accuracy"] <= 1 and metrics["kmeans_runs"] == 3
    assert (tmp_path / "run" / "figures" / "interpolations.png").is_file()


def test_repeated_probe_runs_report_their_mean_and_spread(monkeypatch):
    from types import SimpleNamespace

    import ppl_ssl.evaluation.representation as representation

    f = planted(signal=1.0, seed=2)
    data = SimpleNamespace(train_x=torch.zeros(1), spec=SimpleNamespace(num_classes=4))
    config = EvalConfig(probe_epochs=3, probe_runs=4, gmm_n_init=1)
    monkeypatch.setattr(representation, "extract_features", lambda encode, data: f)  # planted features, no encoder
    metrics, _ = representation.evaluate_representation(None, data, config)
    singles = [probe_accuracy(f, None, 3, config.probe_lr, config.probe_batch_size, seed)[0] for seed in range(4)]
    assert metrics["linear_probe_accuracy"] == pytest.approx(np.mean(singles))
    assert metrics["linear_probe_accuracy_sd"] == pytest.approx(np.std(singles, ddof=1)) and metrics["linear_probe_accuracy_sd"] > 0
    # the validation accuracy that chose each run's epoch, averaged the same way: what a configuration is chosen by
    validation = [representation.train_probe(f, None, 3, config.probe_lr, config.probe_batch_size, seed).val_accuracy
                  for seed in range(4)]
    assert metrics["val_linear_probe_accuracy"] == pytest.approx(np.mean(validation))
    # a suite that reports only the linear probe (Pythae's) leaves the MLP out; the linear one is the same
    linear_only, _ = representation.evaluate_representation(None, data, dataclasses.replace(config, probes=["linear"]))
    assert "mlp_probe_accuracy" in metrics and "mlp_probe_accuracy" not in linear_only
    assert linear_only["linear_probe_accuracy"] == metrics["linear_probe_accuracy"]


def test_the_probe_reports_the_validation_accuracy_that_chose_its_epoch():
    from ppl_ssl.evaluation.representation import train_probe

    f = planted(signal=1.0, seed=3)
    result = train_probe(f, None, epochs=5, lr=3e-3, batch_size=64)
    assert probe_accuracy(f, None, epochs=5, lr=3e-3, batch_size=64) == (result.test_accuracy, result.best_epoch)
    # the reported validation accuracy is the best over epochs, so no single epoch's is above it
    by_epoch = [train_probe(f, None, epochs=e, lr=3e-3, batch_size=64).val_accuracy for e in range(1, 6)]
    assert result.val_accuracy == pytest.approx(max(by_epoch))
