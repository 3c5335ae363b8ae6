"""The collapsed group prior p(z^1..z^J | y) against mathematics: marginalisation, limits, moments."""
import math

import numpy as np
import pyro.distributions as dist
import pytest
import torch
from scipy import integrate

import ppl_ssl
from ppl_ssl.distributions import ExchangeableGaussian, IsotropicNormal, pinch_term
from ppl_ssl.contracts import BuildContext
from ppl_ssl.registry import LIKELIHOODS


def normal_logpdf(x, loc, var):
    return -0.5 * ((x - loc) ** 2 / var + math.log(2 * math.pi * var))


@pytest.mark.parametrize("views, sigma2, gamma", [(1, 0.15, 1.0), (3, 0.15, 1.0), (4, 0.5, 2.5)])
def test_log_prob_equals_numerical_integral_over_content(views, sigma2, gamma):
    z = torch.tensor(np.random.default_rng(views).normal(size=(views, 1)) * 0.8, dtype=torch.float64)
    d = ExchangeableGaussian(views, 1, math.sqrt(sigma2), gamma)

    def joint(psi):  # p(ψ) Π_j p(z^j | ψ)
        log = normal_logpdf(psi, 0.0, gamma**2) + sum(normal_logpdf(float(zj), psi, sigma2) for zj in z[:, 0])
        return math.exp(log)

    integral, _ = integrate.quad(joint, -30, 30, points=[float(z.mean())], epsabs=0, epsrel=1e-10, limit=200)
    assert float(d.log_prob(z.float())) == pytest.approx(math.log(integral), abs=1e-4)


def test_log_prob_matches_multivariate_normal_per_latent_dimension():
    views, latent, sigma, gamma = 5, 3, 0.4, 1.7
    d = ExchangeableGaussian(views, latent, sigma, gamma)
    z = torch.randn(7, views, latent)
    cov = sigma**2 * torch.eye(views) + gamma**2 * torch.ones(views, views)
    mvn = torch.distributions.MultivariateNormal(torch.zeros(views), cov)
    expected = mvn.log_prob(z.transpose(-1, -2)).sum(-1)  # latent dims are independent
    assert torch.allclose(d.expand((7,)).log_prob(z), expected, atol=1e-4)


def test_large_gamma_gives_the_papers_pinch_term_up_to_a_constant():
    views, latent, sigma2 = 6, 4, 0.15
    z = torch.randn(10, views, latent, dtype=torch.float64)
    d = ExchangeableGaussian(views, latent, math.sqrt(sigma2), 1e6)
    shifted = d.log_prob(z) + pinch_term(z, sigma2)
    # what is left does not depend on z: the (diverging) normaliser only
    assert torch.allclose(shifted, shifted[0].expand_as(shifted), atol=1e-6)
    # and the pinch term really is Σ_j ‖z^j − z̄‖² / 2σ²
    zbar = z.mean(-2, keepdim=True)
    assert torch.allclose(pinch_term(z, sigma2), ((z - zbar) ** 2).sum((-2, -1)) / (2 * sigma2))


def test_samples_have_the_exchangeable_covariance():
    torch.manual_seed(0)
    views, sigma, gamma = 4, 0.5, 1.5
    d = ExchangeableGaussian(views, 2, sigma, gamma)
    z = d.sample((200_000,))[..., 0]  # (n, J) for one latent dimension
    empirical = torch.cov(z.T)
    assert torch.allclose(empirical, d.covariance_matrix_per_dim(), atol=0.03)
    assert d.sample((3,)).shape == (3, views, 2)
    assert d.expand((5,)).rsample((2,)).shape == (2, 5, views, 2)


def test_log_prob_is_normalised_in_two_dimensions():
    d = ExchangeableGaussian(2, 1, 0.6, 0.9)
    grid = torch.linspace(-7, 7, 561)
    a, b = torch.meshgrid(grid, grid, indexing="ij")
    density = d.log_prob(torch.stack([a, b], -1)[..., None]).exp()
    step = float(grid[1] - grid[0])
    assert float(density.sum()) * step**2 == pytest.approx(1.0, abs=1e-3)


# --------------------------------------------------------------------------- IsotropicNormal (the Gaussian likelihood)


def test_isotropic_normal_is_the_normal_with_one_fixed_variance():
    torch.manual_seed(0)
    loc = torch.rand(1, 5, 3, 1, 6, 6, requires_grad=True)  # a particle dim, 5 images, 3 views
    value = torch.rand(5, 3, 1, 6, 6)
    ours = IsotropicNormal(loc, 0.02, event_dims=3)
    reference = dist.Normal(loc, math.sqrt(0.02)).to_event(3)
    assert ours.batch_shape == reference.batch_shape and ours.event_shape == reference.event_shape
    lp, ref = ours.log_prob(value), reference.log_prob(value)
    assert lp.shape == ref.shape == (1, 5, 3)
    assert torch.allclose(lp, ref, rtol=1e-6, atol=1e-4)
    (grad,) = torch.autograd.grad(lp.sum(), loc)
    (ref_grad,) = torch.autograd.grad(ref.sum(), loc)
    assert torch.allclose(grad, ref_grad, rtol=1e-5, atol=1e-5)
    expanded = ours.expand((4, 5, 3))
    assert expanded.batch_shape == (4, 5, 3) and torch.allclose(expanded.log_prob(value)[2], lp[0], atol=1e-4)
    samples = IsotropicNormal(torch.zeros(20000, 1, 2, 2), 0.02).rsample()
    assert abs(float(samples.var()) - 0.02) < 1e-3 and abs(float(samples.mean())) < 3e-3


def test_the_gaussian_likelihood_scores_pixels_as_before():
    component = ppl_ssl.build_config("vae").model.likelihood
    likelihood = LIKELIHOODS.build(component.kind, component.options, BuildContext(None))
    raw, images = torch.randn(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    expected = dist.Normal(torch.sigmoid(raw), math.sqrt(0.02)).to_event(3).log_prob(images)
    assert torch.allclose(likelihood(raw).log_prob(images), expected, rtol=1e-6, atol=1e-3)
