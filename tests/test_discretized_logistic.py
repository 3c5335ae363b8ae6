"""The discretised logistic mixture: normalised over the 256 values, equal to logistic CDF differences, sampled right."""
import math

import numpy as np
import pytest
import torch
from scipy import stats

from ppl_ssl.distributions import DiscretizedLogisticMixture

VALUES = torch.arange(256, dtype=torch.float64) / 255


def _grey(k=3, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return DiscretizedLogisticMixture(torch.randn(k, 1, 1, generator=g, dtype=dtype),
                                      torch.rand(k, 1, 1, 1, generator=g, dtype=dtype),
                                      torch.randn(k, 1, 1, 1, generator=g, dtype=dtype) - 3)


def test_a_grey_pixel_sums_to_one_over_its_256_values():
    d = _grey()
    log_p = d.log_prob(VALUES.view(256, 1, 1, 1))
    assert float(torch.logsumexp(log_p, 0)) == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("loc, log_scale", [(0.5, -3.0), (-4.0, -6.0), (7.0, -7.0), (0.3, 2.0), (0.0, -9.0)])
def test_one_component_equals_logistic_cdf_differences_computed_independently(loc, log_scale):
    d = DiscretizedLogisticMixture(torch.zeros(1, 1, 1, dtype=torch.float64), torch.full((1, 1, 1, 1), loc, dtype=torch.float64),
                                   torch.full((1, 1, 1, 1), log_scale, dtype=torch.float64))
    scale = math.exp(max(log_scale, -7.0))  # log-scales are clamped at −7
    cdf = stats.logistic(loc=loc, scale=scale).cdf
    edges = np.concatenate([[-np.inf], (np.arange(255) + 0.5) / 255, [np.inf]])
    expected = np.diff(cdf(edges))
    got = d.log_prob(VALUES.view(256, 1, 1, 1)).exp().numpy()
    assert np.allclose(got, expected, atol=1e-12, rtol=1e-7)
    assert np.isfinite(d.log_prob(VALUES.view(256, 1, 1, 1)).numpy()).all()  # far tails stay finite in log space


@pytest.mark.parametrize("log_scale", [-7.0, 0.0, 30.0, 95.0, 200.0])
def test_gradients_stay_finite_at_the_edges_and_for_any_scale(log_scale):
    """Saturated images (all 0 or 255) and very wide components once made the gradient NaN (0 · ∞ in torch.where)."""
    loc = torch.tensor([[[[-3.0, 0.5], [1.2, 4.0]]]], requires_grad=True)          # (K=1, C=1, 2, 2)
    log_s = torch.full((1, 1, 2, 2), log_scale, requires_grad=True)
    logits = torch.zeros(1, 2, 2, requires_grad=True)
    x = torch.tensor([[[0.0, 1.0], [128 / 255, 1.0]]])
    log_p = DiscretizedLogisticMixture(logits, loc, log_s).log_prob(x)
    log_p.backward()
    assert torch.isfinite(log_p) and all(torch.isfinite(t.grad).all() for t in (loc, log_s, logits))


def test_a_bin_much_narrower_than_the_scale_keeps_its_small_mass_in_log_space():
    """A float32 scale of e^95: the bin's width/scale underflows to 0, yet log mass ≈ log(σ'(·) · width / s)."""
    loc, log_scale, x = 0.2, 95.0, 100 / 255
    d = DiscretizedLogisticMixture(torch.zeros(1, 1, 1), torch.full((1, 1, 1, 1), loc), torch.full((1, 1, 1, 1), log_scale))
    z = (x - loc) / math.exp(log_scale)
    expected = -log_scale - math.log(255) + math.log(math.exp(-z) / (1 + math.exp(-z)) ** 2)  # density × width
    assert float(d.log_prob(torch.full((1, 1, 1), x))) == pytest.approx(expected, rel=1e-6)


def _colour(k=2, seed=1, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return DiscretizedLogisticMixture(torch.randn(k, 1, 1, generator=g, dtype=dtype),
                                      torch.rand(k, 3, 1, 1, generator=g, dtype=dtype),
                                      torch.randn(k, 3, 1, 1, generator=g, dtype=dtype) - 2.5,
                                      torch.randn(k, 3, 1, 1, generator=g, dtype=dtype))


def test_green_and_blue_sum_to_one_given_the_previous_channels():
    """One component: p(r, g, b) = p(r) p(g | r) p(b | r, g). Summing g and b out must leave p(r), the red
    channel's own discretised logistic (computed with scipy), for any r — so each conditional sums to one."""
    d = _colour(k=1)
    loc, scale = float(d.loc[0, 0, 0, 0]), math.exp(float(d.log_scale[0, 0, 0, 0]))
    edges = np.concatenate([[-np.inf], (np.arange(255) + 0.5) / 255, [np.inf]])
    red_masses = np.diff(stats.logistic(loc=loc, scale=scale).cdf(edges))
    green_blue = torch.cartesian_prod(VALUES, VALUES)
    for r in (0, 37, 128, 255):
        x = torch.cat([torch.full((len(green_blue), 1), r / 255, dtype=torch.float64), green_blue], 1)
        log_red = torch.logsumexp(d.log_prob(x.view(-1, 3, 1, 1)), 0)
        assert float(log_red) == pytest.approx(math.log(red_masses[r]), abs=1e-9)


@pytest.mark.slow
def test_the_colour_joint_sums_to_one_over_all_256_cubed_values():
    d = _colour(k=2)
    grid = torch.cartesian_prod(VALUES, VALUES)                                     # (65536, 2): red, green
    chunks = []
    for blue in VALUES.split(32):
        x = torch.cat([grid.repeat_interleave(len(blue), 0), blue.repeat(len(grid)).unsqueeze(1)], 1)
        chunks.append(torch.logsumexp(d.log_prob(x.view(-1, 3, 1, 1)), 0))
    assert float(torch.logsumexp(torch.stack(chunks), 0)) == pytest.approx(0.0, abs=1e-9)


def test_samples_follow_the_distribution_chi_square():
    d = _grey(k=3, seed=4)
    torch.manual_seed(0)
    samples = d.sample((40000,))
    assert samples.shape == (40000, 1, 1, 1)
    assert torch.equal(samples, torch.round(samples * 255) / 255) and 0 <= float(samples.min()) and float(samples.max()) <= 1
    counts = np.bincount((samples.flatten() * 255).round().long().numpy(), minlength=256)
    probs = d.log_prob(VALUES.view(256, 1, 1, 1)).exp().numpy()
    keep = probs * len(samples) >= 5  # chi-square needs expected counts ≥ 5; the rest is pooled into one cell
    observed = np.append(counts[keep], counts[~keep].sum())
    expected = np.append(probs[keep], probs[~keep].sum()) * len(samples)
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_colour_samples_follow_the_coupled_channels():
    """Among samples with the most frequent red value, green follows p(G | R) (blue summed out of the joint)."""
    d = _colour(k=1, seed=2)
    torch.manual_seed(1)
    samples = d.sample((20000,))
    red = samples[:, 0, 0, 0]
    value = float(torch.mode(red).values)
    subset = samples[red == value]
    counts = np.bincount((subset[:, 1, 0, 0] * 255).round().long().numpy(), minlength=256)
    green_blue = torch.cartesian_prod(VALUES, VALUES)
    x = torch.cat([torch.full((len(green_blue), 1), value, dtype=torch.float64), green_blue], 1)
    log_joint = d.log_prob(x.view(-1, 3, 1, 1)).view(256, 256)           # [green, blue]
    probs = torch.softmax(torch.logsumexp(log_joint, 1), 0).numpy()      # p(G | R = value)
    keep = probs * len(subset) >= 5
    observed = np.append(counts[keep], counts[~keep].sum())
    expected = np.append(probs[keep], probs[~keep].sum()) * len(subset)
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_batched_images_shapes_and_mean_in_the_unit_interval():
    d = DiscretizedLogisticMixture(torch.randn(4, 5, 6, 6), torch.randn(4, 5, 3, 6, 6), torch.randn(4, 5, 3, 6, 6),
                                   torch.randn(4, 5, 3, 6, 6))
    assert d.batch_shape == (4,) and d.event_shape == (3, 6, 6)
    x = d.sample((2,))
    assert x.shape == (2, 4, 3, 6, 6) and d.log_prob(x).shape == (2, 4)
    assert d.mean.shape == (4, 3, 6, 6) and 0 <= float(d.mean.min()) and float(d.mean.max()) <= 1
    assert d.expand((7, 4)).log_prob(x[0]).shape == (7, 4)


@pytest.mark.parametrize("channels", [1, 3])
def test_the_likelihood_reads_its_parameters_from_the_decoders_maps(channels):
    from ppl_ssl.likelihoods import LogisticMixtureLikelihood, LogisticMixtureOptions

    likelihood = LogisticMixtureLikelihood(LogisticMixtureOptions(components=4))
    raw = torch.randn(5, likelihood.raw_channels(channels), 6, 6)
    d = likelihood(raw)
    assert likelihood.raw_channels(channels) == 4 * (1 + 2 * channels + (3 if channels == 3 else 0))
    assert d.event_shape == (channels, 6, 6) and d.batch_shape == (5,)
    loc_maps = raw[:, 4 : 4 + 4 * channels].reshape(5, 4, channels, 6, 6)  # component-major, then channel
    assert torch.equal(d.logits, raw[:, :4]) and torch.allclose(d.loc, 0.5 + loc_maps)  # means around 0.5
    assert likelihood.discrete  # probabilities of pixel values: bits/dim adds no D·ln 255


def test_a_vae_with_the_logistic_mixture_reports_bits_per_dim_of_a_discrete_model(tmp_path):
    import ppl_ssl
    from tests.conftest import tiny_config

    config = tiny_config("vae", "model.likelihood.kind=logistic_mixture", "model.likelihood.components=3",
                         "eval.nll_samples=20", epochs=2)
    metrics = ppl_ssl.fit_and_evaluate(config, tmp_path / "run", progress=False)
    assert metrics["test_bpd"] == pytest.approx(metrics["test_nll"] / (64 * math.log(2)))  # digits: 8×8 grey
    assert 0 < metrics["test_bpd"] < 8 and metrics["test_nll"] > 0
