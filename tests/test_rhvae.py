"""The Riemannian Hamiltonian VAE (models/rhvae.py, guides/riemannian_hamiltonian.py, ppl_ssl/riemannian.py): the
metric is its formula, its momenta are N(0, G), the generalised leapfrog preserves volume where its equations are
solved, with vanishing steps each draw's ELBO is the VAE's, and its importance weights estimate the model's p(x)."""
import math

import pyro
import pyro.poutine as poutine
import pytest
import torch

from ppl_ssl.errors import ConfigError
from ppl_ssl.evaluation.likelihood import importance_weighted_nll
from ppl_ssl.riemannian import Anchors, RiemannianMetric, riemannian_momentum, riemannian_momentum_log_prob
from ppl_ssl.system import build_system
from tests.conftest import tiny_config
from tests.test_hvae import exact_log_px, log_weight_and_the_vaes

SHAPE = (1, 8, 8)


def system(*assignments: str):
    torch.manual_seed(0)
    return build_system(tiny_config("rhvae", "augment.enabled=false", "model.latent_dim=2", *assignments), SHAPE)


def test_the_inverse_metric_is_its_formula_and_positive_definite():
    torch.manual_seed(0)
    metric = RiemannianMetric(64, 3, hidden=16, temperature=1.5, regularisation=0.01, capacity=10)
    images = torch.rand(5, 1, 8, 8)
    factors = metric.factors(images)
    assert torch.equal(factors, factors.tril()) and bool((torch.diagonal(factors, dim1=-2, dim2=-1) > 0).all())
    centres = torch.randn(5, 3)
    z = torch.randn(4, 2, 3)
    inverse = metric.inverse(z, Anchors(centres, factors))
    by_hand = torch.stack([torch.stack([
        sum(factors[i] @ factors[i].T * torch.exp(-((z[a, b] - centres[i]) ** 2).sum() / 1.5 ** 2) for i in range(5))
        + 0.01 * torch.eye(3) for b in range(2)]) for a in range(4)])
    assert torch.allclose(inverse, by_hand, atol=1e-5)
    assert bool((torch.linalg.eigvalsh(inverse) > 0).all())


def test_the_momentum_is_normal_with_the_metric_as_covariance():
    torch.manual_seed(1)
    square = torch.randn(3, 3)
    inverse_metric = (square @ square.T + 0.5 * torch.eye(3)).double()
    metric = torch.linalg.inv(inverse_metric)
    rho = torch.randn(5, 1, 3, dtype=torch.float64)
    exact = torch.distributions.MultivariateNormal(torch.zeros(3, dtype=torch.float64), metric).log_prob(rho).sum(-1)
    assert torch.allclose(riemannian_momentum_log_prob(rho, inverse_metric.expand(5, 1, 3, 3)), exact)
    draws = riemannian_momentum(inverse_metric.expand(200000, 3, 3))
    assert torch.allclose(draws.T @ draws / len(draws), metric, atol=0.02 * float(metric.abs().max()))


def trained_anchors(rhvae, n: int = 16):
    """Anchors stored by training-mode passes of the story, as in fitting."""
    rhvae.model.train()
    views = torch.rand(n, 1, *SHAPE)
    guide_trace = poutine.trace(rhvae.guide).get_trace(views)
    poutine.trace(poutine.replay(rhvae.model, trace=guide_trace)).get_trace(views)
    return views


def stored_anchors(rhvae, n: int = 16) -> None:
    """n training images' anchors stored, as the story stores them in fitting."""
    with torch.no_grad():
        rhvae.model.metric.batch_anchors(torch.rand(n, 1, *SHAPE), rhvae.guide.encoder, store=True)


def test_the_story_stores_each_training_image_once_and_the_ring_wraps():
    rhvae = system("model.program.anchors=20")
    trained_anchors(rhvae, 16)
    assert int(rhvae.model.metric.stored_count) == 16  # the guide's anchors are not stored, the story's are
    views = trained_anchors(rhvae, 16)
    assert int(rhvae.model.metric.stored_count) == 32
    centres = rhvae.guide.encoder(views.flatten(0, 1))[0].detach()
    stored = rhvae.model.metric.stored_centres
    assert torch.allclose(stored[:12], centres[4:]) and torch.allclose(stored[16:20], centres[:4])  # slots 16..31 mod 20
    assert "metric.stored_centres" in rhvae.model.state_dict()
    rhvae.model.eval()
    assert len(rhvae.model.anchors(views).centres) == 20


@pytest.mark.parametrize("training", [True, False])
def test_the_generalised_leapfrog_preserves_volume_where_its_equations_are_solved(training):
    """With the implicit equations solved (many fixed-point iterations), the step is symplectic: the flow's
    log-determinant is the tempering's alone, (J·L/2) log β_0, whatever the metric."""
    rhvae = system("guide.steps=3", "guide.step_size=0.03", "guide.beta_zero=0.4", "guide.fixed_point_steps=20",
                   "model.program.temperature=1.0", "model.likelihood.variance=0.5")
    stored_anchors(rhvae)
    rhvae.model.train(training)
    views = torch.rand(1, 1, *SHAPE)
    flow = rhvae.guide.posterior(views)

    def move(state):
        z, rho = flow.move(state[:2].view(1, 1, 2), state[2:].view(1, 1, 2))
        return torch.cat([z.flatten(), rho.flatten()])

    point = torch.tensor([0.3, -0.2, 0.5, 1.1])
    jacobian = torch.autograd.functional.jacobian(move, point)
    assert float(torch.linalg.slogdet(jacobian.double())[1]) == pytest.approx(math.log(0.4), abs=2e-3)
    metric = rhvae.model.metric.inverse(point[:2].view(1, 1, 2), flow.anchors)
    assert not torch.allclose(metric, metric[..., :1, :1] * torch.eye(2))  # a metric that is not the Euclidean one
    assert not torch.allclose(move(point)[:2], point[:2])


def test_its_density_at_its_draws_is_the_start_and_riemannian_momentum_less_the_log_determinant():
    rhvae = system("guide.steps=2", "guide.step_size=0.05", "guide.beta_zero=0.3")
    stored_anchors(rhvae)
    rhvae.model.eval()
    views = torch.rand(4, 1, *SHAPE)
    flow = rhvae.guide.posterior(views)
    torch.manual_seed(5)
    value = flow.rsample()
    torch.manual_seed(5)
    z0 = flow.start.rsample()
    inverse = rhvae.model.metric.inverse(z0, flow.anchors)
    rho0 = riemannian_momentum(inverse) / math.sqrt(0.3)
    z, rho = flow.move(z0, rho0)
    assert torch.allclose(value, torch.cat([z, rho], -1))
    covariance = torch.linalg.inv(inverse.double()) / 0.3                          # ρ_0 ~ N(0, G(z_0)/β_0)
    momentum = torch.distributions.MultivariateNormal(torch.zeros(2, dtype=torch.float64), covariance)
    by_hand = flow.start.log_prob(z0).double() + momentum.log_prob(rho0.double()).sum(-1) - 2 / 2 * math.log(0.3)
    assert torch.allclose(flow.log_prob(value).double(), by_hand, atol=1e-4)


def test_with_vanishing_steps_each_draws_elbo_is_the_vaes():
    """ε → 0 leaves z_0 in place and ρ_K = √β_0 ρ_0 ~ N(0, G(z_0)): the momentum's terms cancel."""
    rhvae = system("guide.steps=2", "guide.step_size=1e-12", "guide.beta_zero=0.3")
    log_w, vae = log_weight_and_the_vaes(rhvae, torch.rand(3, 1, *SHAPE))
    assert log_w == pytest.approx(vae, abs=1e-3)


def test_its_importance_weights_estimate_the_models_likelihood():
    """On a 2-D latent whose log p(x) a grid gives, the importance-weighted estimate with the Riemannian Hamiltonian
    guide's weights (the momentum N(0, G(z)) integrating out) converges to it."""
    likelihood = ("model.likelihood.variance=0.5",)
    rhvae = system("guide.steps=3", "guide.step_size=0.05", "guide.beta_zero=0.5", "guide.fixed_point_steps=10",
                   *likelihood)
    stored_anchors(rhvae)
    rhvae.model.eval()
    torch.manual_seed(1)
    with torch.no_grad():  # data from the model itself
        x = (rhvae.model.decode_codes(torch.randn(4, 1, 2)) + 0.1 * torch.randn(4, 1, *SHAPE)).clamp(0, 1)
    exact = exact_log_px(rhvae.model, x)
    pyro.set_rng_seed(0)
    estimate = importance_weighted_nll(rhvae.model, rhvae.guide, x, num_samples=20000)
    assert torch.allclose(estimate, exact, atol=0.04), (estimate, exact)


def test_the_riemannian_guide_and_the_rhvae_model_need_each_other():
    with pytest.raises(ConfigError, match="set model.program = 'rhvae'"):
        build_system(tiny_config("vae", "guide.kind='riemannian_hamiltonian'"), SHAPE)
    with pytest.raises(ConfigError, match="set guide.kind = 'riemannian_hamiltonian'"):
        build_system(tiny_config("vae", "model.program='rhvae'"), SHAPE)
