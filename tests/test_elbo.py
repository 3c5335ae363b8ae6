"""Pyro's ELBO for the SSL model against the same quantity computed by hand from Algorithm 1's terms."""
import math

import pyro
import pyro.poutine as poutine
import pytest
import torch

from ppl_ssl.system import build_system
from tests.conftest import tiny_config


def hand_elbo_terms(system, views, z, sigma2, gamma, variance):
    """Algorithm 1 of the SimVAE paper with its constants kept (so it is the ELBO, not a loss up to constants)."""
    with torch.no_grad():
        return _hand_terms(system, views, z, sigma2, gamma, variance)


def _hand_terms(system, views, z, sigma2, gamma, variance):
    n, j, c, h, w = views.shape
    d = c * h * w
    encoder, decoder = system.guide.encoder, system.model.decoder
    loc, scale = encoder(views.flatten(0, 1))
    x_mean = torch.sigmoid(decoder(z.flatten(0, 1))).flatten(1)
    x = views.flatten(0, 1).flatten(1)
    # reconstruction: Gaussian log-likelihood of each view, variance fixed
    reconstruction = (-((x - x_mean) ** 2).sum() / (2 * variance) - 0.5 * x.numel() * math.log(2 * math.pi * variance))
    # −log q(z|x) at the sample: ½ Σ log(2π σ²) + ½ Σ ((z − μ)/σ)² — the 2π sits inside the log, with factor ½
    eps = (z.flatten(0, 1) - loc) / scale
    entropy = 0.5 * (torch.log(2 * math.pi * scale**2) + eps**2).sum()
    # log p(z^1..z^J | y): the pinch term Σ_j ‖z^j − z̄‖² / 2σ² plus the content's shrinkage and the normaliser
    s, q = z.sum(1), (z**2).sum(1)
    quad = (q - s**2 / (j + sigma2 / gamma**2)) / sigma2
    log_prior = -0.5 * (quad + j * math.log(2 * math.pi * sigma2) + math.log1p(j * gamma**2 / sigma2)).sum()
    assert d == x.shape[1]
    return reconstruction, log_prior, entropy


def test_trace_elbo_equals_algorithm_1_with_the_correct_entropy():
    config = tiny_config("simvae", "model.views=3")
    system = build_system(config, (1, 8, 8))
    views = torch.rand(5, 3, 1, 8, 8)
    pyro.set_rng_seed(7)
    loss, terms = system.training_loss(views)
    pyro.set_rng_seed(7)  # the guide draws z first in Trace_ELBO: the same seed gives the same z
    z = poutine.trace(system.guide).get_trace(views).nodes["z"]["value"]
    options = config.model.prior.options
    reconstruction, log_prior, entropy = hand_elbo_terms(system, views, z.detach(), options.sigma2, options.gamma, 0.02)
    assert float(terms["reconstruction"]) == pytest.approx(float(reconstruction), rel=1e-5)
    assert float(terms["log_prior"]) == pytest.approx(float(log_prior), rel=1e-5)
    assert float(terms["entropy"]) == pytest.approx(float(entropy), rel=1e-5)
    assert float(loss.detach()) == pytest.approx(-float(reconstruction + log_prior + entropy), rel=1e-5)


def test_entropy_term_averages_to_the_analytic_gaussian_entropy():
    """E_q[−log q] = ½ Σ log(2πe σ²): the official code's π·Σ log σ² would be off by a factor 2π in its gradient."""
    config = tiny_config("simvae", "model.views=2")
    system = build_system(config, (1, 8, 8))
    views = torch.rand(4, 2, 1, 8, 8)
    with torch.no_grad():
        _, scale = system.guide.encoder(views.flatten(0, 1))
        analytic = 0.5 * torch.log(2 * math.pi * math.e * scale**2).sum()
        pyro.set_rng_seed(0)
        estimates = torch.tensor([float(system.training_loss(views)[1]["entropy"]) for _ in range(2000)])
    # −log q at a sample is ½Σ log(2πσ²) + ½χ²_32: sd 4, so the mean of 2000 has standard error 0.09
    assert float(estimates.mean()) == pytest.approx(float(analytic), abs=0.4)


def test_beta_scales_the_kl_but_elbo_terms_stay_unscaled():
    beta = 0.25
    config = tiny_config("beta-vae", f"objective.beta={beta}")
    system = build_system(config, (1, 8, 8))
    views = torch.rand(6, 1, 1, 8, 8)
    pyro.set_rng_seed(3)
    loss, terms = system.training_loss(views)
    expected_loss = -(terms["reconstruction"] + beta * (terms["log_prior"] + terms["entropy"]))
    assert float(loss.detach()) == pytest.approx(float(expected_loss), rel=1e-5)
    assert float(terms["elbo"]) == pytest.approx(float(terms["reconstruction"] + terms["log_prior"] + terms["entropy"]))


def test_vae_is_the_ssl_program_with_one_view_and_standard_normal_prior():
    config = tiny_config("vae")
    assert config.model.views == 1 and config.model.prior.kind == "standard_normal"
    system = build_system(config, (1, 8, 8))
    views = torch.rand(3, 1, 1, 8, 8)
    pyro.set_rng_seed(1)
    _, terms = system.training_loss(views)
    pyro.set_rng_seed(1)
    z = poutine.trace(system.guide).get_trace(views).nodes["z"]["value"]
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(z.detach()).sum()
    assert float(terms["log_prior"]) == pytest.approx(float(expected), rel=1e-5)


def test_the_closed_form_kl_is_the_monte_carlo_terms_expectation_and_weighs_beta():
    """objective.kl = closed_form: the loss is −(reconstruction at the draw − β·KL(q ‖ p)), the Gaussian KL in closed
    form; the Monte Carlo estimate −(log p(z) − log q(z | x)) averages to that KL."""
    beta = 0.5
    config = tiny_config("beta-vae", f"objective.beta={beta}", "objective.kl='closed_form'")
    system = build_system(config, (1, 8, 8))
    views = torch.rand(4, 1, 1, 8, 8)
    pyro.set_rng_seed(3)
    loss, terms = system.training_loss(views)
    with torch.no_grad():
        loc, scale = system.guide.encoder(views.flatten(0, 1))
        kl = float((0.5 * (loc ** 2 + scale ** 2 - 1) - torch.log(scale)).sum())
    assert float(loss.detach()) == pytest.approx(-(float(terms["reconstruction"]) - beta * kl), rel=1e-5)
    assert loss.requires_grad
    pyro.set_rng_seed(0)
    with torch.no_grad():
        draws = [system.training_loss(views)[1] for _ in range(3000)]
    monte_carlo = torch.tensor([-float(t["log_prior"] + t["entropy"]) for t in draws])
    # each draw's estimate has sd ≈ √(L·N/2) ≈ 4: the mean of 3000 is within 0.3 of the KL
    assert float(monte_carlo.mean()) == pytest.approx(kl, abs=0.3)


def test_a_prior_without_a_closed_form_kl_keeps_its_monte_carlo_term():
    config = tiny_config("vamp", "objective.kl='closed_form'")
    system = build_system(config, (1, 8, 8))
    views = torch.rand(4, 1, 1, 8, 8)
    pyro.set_rng_seed(3)
    closed = system.training_loss(views)[0]
    system.elbo.closed_form_kl = False
    pyro.set_rng_seed(3)
    assert float(system.training_loss(views)[0]) == pytest.approx(float(closed), rel=1e-6)
