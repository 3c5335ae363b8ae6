"""The offline FID: the Fréchet distance against closed forms, and a feature network whose distances order as they must."""
import dataclasses
import shutil

import numpy as np
import pytest
import scipy.linalg
import torch

from ppl_ssl.data import load_dataset
from ppl_ssl.evaluation.fid import cached_feature_network, feature_statistics, frechet_distance


def test_frechet_distance_of_diagonal_gaussians_has_its_closed_form():
    rng = np.random.default_rng(0)
    mean_a, mean_b = rng.normal(size=6), rng.normal(size=6)
    var_a, var_b = rng.uniform(0.1, 3, size=6), rng.uniform(0.1, 3, size=6)
    expected = ((mean_a - mean_b) ** 2).sum() + ((np.sqrt(var_a) - np.sqrt(var_b)) ** 2).sum()
    assert frechet_distance(mean_a, np.diag(var_a), mean_b, np.diag(var_b)) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_of_full_covariances_matches_the_symmetric_form():
    # tr((Σa Σb)^½) = tr((Σa^½ Σb Σa^½)^½): the reference takes the symmetric route, the function the direct one
    rng = np.random.default_rng(1)
    factors = [rng.normal(size=(8, 8)) for _ in range(2)]
    cov_a, cov_b = (f @ f.T + 0.1 * np.eye(8) for f in factors)
    mean_a, mean_b = rng.normal(size=8), rng.normal(size=8)
    half = scipy.linalg.sqrtm(cov_a).real
    cross = scipy.linalg.sqrtm(half @ cov_b @ half).real
    expected = ((mean_a - mean_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * cross)
    assert frechet_distance(mean_a, cov_a, mean_b, cov_b) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(mean_a, cov_a, mean_a, cov_a) == pytest.approx(0.0, abs=1e-8)
    mean, cov = feature_statistics(rng.normal(size=(50000, 3)) * [1, 2, 3] + 5)
    assert mean == pytest.approx([5, 5, 5], abs=0.05) and np.diag(cov) == pytest.approx([1, 4, 9], rel=0.05)


@pytest.fixture(scope="module")
def digits_features(tmp_path_factory):
    data = load_dataset("digits", "", 300, 0, 0, "cpu")
    folder = tmp_path_factory.mktemp("fid")
    return data, folder, cached_feature_network(data, folder, seed=0, epochs=10)


def test_held_out_images_are_close_noise_far_and_one_class_farther(digits_features):
    data, _, network = digits_features
    assert network.metric_name == "fid_digits" and network.test_accuracy > 0.8
    noise = torch.randint(0, 256, data.test_x.shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    held_out = network.fid(data.train_x, data.test_x)
    to_noise = network.fid(data.train_x, noise)
    to_one_class = network.fid(data.train_x, data.train_x[data.train_y == 0])
    assert 10 * held_out < to_noise < to_one_class


def test_the_feature_network_is_trained_once_and_reloaded(digits_features):
    data, folder, network = digits_features
    cached = list(folder.glob("fid-digits-*.pt"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    again = cached_feature_network(data, folder, seed=0, epochs=10)
    assert cached[0].stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again.embed(data.test_x[:20]), network.embed(data.test_x[:20]))
    assert again.test_accuracy == network.test_accuracy
    assert again.digest() == network.digest() and len(network.digest()) == 12  # the same weights, the same digest


def test_a_network_learnt_from_another_training_split_is_not_reused(digits_features, tmp_path):
    data, folder, network = digits_features
    shutil.copytree(folder, tmp_path, dirs_exist_ok=True)  # the cache as the fixture left it
    folder = tmp_path
    fewer = dataclasses.replace(data, train_x=data.train_x[:-50], train_y=data.train_y[:-50])  # a larger validation split
    other = cached_feature_network(fewer, folder, seed=0, epochs=10)
    labelled = sorted(path.name for path in folder.glob("fid-digits-*.pt"))
    assert labelled == [f"fid-digits-n{len(fewer.train_y)}-s0-e10.pt", f"fid-digits-n{len(data.train_y)}-s0-e10.pt"]
    assert other.digest() != network.digest()


def test_the_digest_tells_networks_apart_by_their_weights(digits_features):
    import copy

    _, _, network = digits_features
    other = copy.deepcopy(network)
    with torch.no_grad():
        next(other.net.parameters()).view(-1)[0] += 1e-6  # one weight, barely moved
    assert other.digest() != network.digest() and copy.deepcopy(network).digest() == network.digest()


def test_the_inception_score_is_one_for_indistinguishable_images_and_the_class_count_for_confident_even_ones():
    from ppl_ssl.evaluation.fid import FeatureNetwork

    class Logits(torch.nn.Module):  # a classifier that reads the class off the first pixel: logit 30 for it
        def forward(self, images):
            return 30.0 * torch.nn.functional.one_hot(images[:, 0, 0, 0].long(), 4).float()

    network = FeatureNetwork(Logits(), "toy", 1.0)
    even = torch.arange(400).remainder(4).float().view(-1, 1, 1, 1).expand(-1, 1, 2, 2).contiguous()
    score, spread = network.inception_score(even, splits=4)
    assert score == pytest.approx(4.0, rel=1e-6) and spread == pytest.approx(0.0, abs=1e-6)
    assert network.inception_score(torch.zeros(400, 1, 2, 2), splits=4)[0] == pytest.approx(1.0, rel=1e-6)


def test_real_test_images_score_higher_than_noise(digits_features):
    data, _, network = digits_features
    noise = torch.randint(0, 256, data.test_x.shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    assert network.inception_score(data.test_x, splits=2)[0] > 2 * network.inception_score(noise, splits=2)[0]


def test_each_sampler_is_fitted_to_the_training_codes_and_its_decoded_samples_scored(digits_features, tmp_path):
    """Pythae's generation task on a briefly fitted VAE: a score per sampler, keyed by the feature network's and the
    sampler's names, each the FID of that sampler's decoded draws (reproduced by hand for the GMM)."""
    import ppl_ssl
    from ppl_ssl.evaluation.generation import _decode, sampler_fids
    from ppl_ssl.evaluation.representation import embed
    from ppl_ssl.runs import load_run
    from ppl_ssl.samplers import build_sampler
    from tests.conftest import tiny_config

    data, _, network = digits_features
    ppl_ssl.fit_and_evaluate(tiny_config("vae", "data.val_size=300", epochs=3), tmp_path / "vae", progress=False,
                             make_figures=False)
    system = load_run(tmp_path / "vae", device="cpu").system
    scores = sampler_fids(system, data, network, samples=200, samplers=("prior", "gmm"), seed=0)
    assert set(scores) == {"fid_digits_sampler_prior", "fid_digits_sampler_gmm", "is_digits_sampler_prior",
                           "is_digits_sampler_gmm"}
    assert all(value > 0 for value in scores.values())
    torch.manual_seed(0)
    gmm = build_sampler("gmm", system, 4).fit(embed(system.encode, data.train_x))
    by_hand = network.fid(data.test_x[:200], _decode(system, gmm.sample(200)))
    assert scores["fid_digits_sampler_gmm"] == pytest.approx(by_hand, rel=1e-6)
    # with validation: the same draws scored against as many validation images too, for choosing a configuration
    both = sampler_fids(system, data, network, samples=200, samplers=("gmm",), seed=0, validation=True)
    assert both["fid_digits_sampler_gmm"] == pytest.approx(by_hand, rel=1e-6)
    torch.manual_seed(0)
    gmm = build_sampler("gmm", system, 4).fit(embed(system.encode, data.train_x))
    assert both["val_fid_digits_sampler_gmm"] == pytest.approx(network.fid(data.val_x[:200], _decode(system, gmm.sample(200))),
                                                               rel=1e-6)


def test_one_pass_gives_the_same_statistics_and_class_probabilities_as_two(digits_features):
    # `describe` serves a sampler's FID and inception score from one pass; the reference's `statistics` are reused
    data, _, network = digits_features
    images = data.test_x[:150]
    statistics, probabilities = network.describe(images, batch_size=64)
    mean, covariance = feature_statistics(network.embed(images))
    np.testing.assert_allclose(statistics.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(statistics.covariance, covariance, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(probabilities, network.class_probabilities(images), rtol=1e-10)
    reference = network.statistics(data.train_x)
    assert network.fid(reference, statistics) == pytest.approx(network.fid(data.train_x, images), rel=1e-10)
    assert network.fid(reference, reference) == pytest.approx(0.0, abs=1e-6)
