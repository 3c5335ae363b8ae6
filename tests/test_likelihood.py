"""Importance-weighted likelihoods against a model whose log p(x) is exact: probabilistic PCA.

z ~ N(0, I_L), x | z ~ N(W z + b, σ² I_D)  ⇒  p(x) = N(b, W Wᵀ + σ² I) and p(z | x) = N(M⁻¹ Wᵀ (x − b), σ² M⁻¹),
M = Wᵀ W + σ² I.
"""
import math

import pyro
import pyro.distributions as dist
import pytest
import torch

from ppl_ssl.evaluation import importance_log_weights, importance_weighted_nll, psis_khat
from ppl_ssl.inference import CIWAE, IWAE, MIWAE, TermTrace_ELBO, ciwae_bound, importance_sample, iwae_bound, miwae_bound

D, L, SIGMA = 6, 2, 0.5


@pytest.fixture(scope="module")
def ppca():
    gen = torch.Generator().manual_seed(0)
    w, b = torch.randn(D, L, generator=gen), torch.randn(D, generator=gen)
    z = torch.randn(300, L, generator=gen)
    x = z @ w.T + b + SIGMA * torch.randn(300, D, generator=gen)
    exact = dist.MultivariateNormal(b, w @ w.T + SIGMA**2 * torch.eye(D)).log_prob(x)
    return w, b, x, exact


def ppca_model(w, b):
    def model(x):
        with pyro.plate("data", len(x)):
            z = pyro.sample("z", dist.Normal(torch.zeros(L), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z @ w.T + b, SIGMA).to_event(1), obs=x)
    return model


def gaussian_guide(w, b, shift=0.0, widen=1.0):
    """The exact posterior N(M⁻¹Wᵀ(x − b), σ²M⁻¹), its mean shifted by `shift` and its scale multiplied by `widen`."""
    m = w.T @ w + SIGMA**2 * torch.eye(L)
    tril = widen * torch.linalg.cholesky(SIGMA**2 * torch.linalg.inv(m))

    def guide(x):
        loc = torch.linalg.solve(m, w.T @ (x - b).T).T + shift
        with pyro.plate("data", len(x)):
            pyro.sample("z", dist.MultivariateNormal(loc, scale_tril=tril))
    return guide


def test_exact_posterior_gives_the_exact_log_likelihood(ppca):
    w, b, x, exact = ppca
    log_px = importance_weighted_nll(ppca_model(w, b), gaussian_guide(w, b), x, num_samples=1000)
    assert log_px.shape == (len(x),)
    assert (log_px - exact).abs().max() < 0.05


def test_chunks_over_data_and_particles_land_in_their_own_rows(ppca):
    """With the exact posterior every weight of datum n equals log p(x_n): any mix-up of chunks would show."""
    w, b, x, exact = ppca
    log_w = importance_log_weights(ppca_model(w, b), gaussian_guide(w, b), x, num_samples=23, batch_size=7, particle_batch=9)
    assert log_w.shape == (len(x), 23)
    assert (log_w - exact[:, None]).abs().max() < 1e-3


def test_bounds_order_elbo_iwae_log_likelihood(ppca):
    w, b, x, exact = ppca
    model, guide = ppca_model(w, b), gaussian_guide(w, b, 0.4, 1.5)  # a mediocre guide
    pyro.set_rng_seed(2)
    means = {}
    for k in (1, 5, 50, 500):
        log_w = importance_log_weights(model, guide, x, num_samples=k * 8)  # 8 independent IWAE_k per datum
        means[k] = float(iwae_bound(log_w.T.reshape(8, k, len(x)).transpose(0, 1).reshape(k, -1).double()).mean())
    elbo = means[1]
    assert elbo < means[5] < means[50] < means[500] < float(exact.mean())
    assert float(exact.mean()) - elbo > 0.2  # the guide is poor enough for the test to mean something


def test_pyro_trace_elbo_agrees_with_the_per_datum_weights(ppca):
    w, b, x, exact = ppca
    model, guide = ppca_model(w, b), gaussian_guide(w, b, 0.4, 1.5)
    pyro.set_rng_seed(3)
    elbo = -float(TermTrace_ELBO(num_particles=4, vectorize_particles=True, max_plate_nesting=1)(model, guide)(x))
    pyro.set_rng_seed(3)
    same_draws = importance_sample(model, guide, x, num_particles=4).log_weight
    assert elbo == pytest.approx(float(same_draws.mean(0).sum()), rel=1e-5)
    pyro.set_rng_seed(3)
    iwae = -float(IWAE(num_particles=4)(model, guide)(x))
    assert iwae == pytest.approx(float(iwae_bound(same_draws).sum()), rel=1e-5)
    assert iwae > elbo


def test_miwae_and_ciwae_lie_between_the_elbo_and_the_iwae_bound_and_reach_both_ends(ppca):
    w, b, x, exact = ppca
    model, guide = ppca_model(w, b), gaussian_guide(w, b, 0.4, 1.5)
    pyro.set_rng_seed(6)
    log_w = importance_sample(model, guide, x, num_particles=12).log_weight.double()  # (12, N)
    elbo, iwae = log_w.mean(0), iwae_bound(log_w)
    for groups in (2, 3, 4):  # Jensen within and across groups: ELBO ≤ MIWAE ≤ IWAE, datum by datum
        miwae = miwae_bound(log_w, groups)
        assert bool((elbo <= miwae + 1e-9).all() and (miwae <= iwae + 1e-9).all())
        by_hand = torch.stack([iwae_bound(log_w[m * (12 // groups):(m + 1) * (12 // groups)]) for m in range(groups)]).mean(0)
        assert torch.allclose(miwae, by_hand)
    assert torch.allclose(miwae_bound(log_w, 1), iwae) and torch.allclose(miwae_bound(log_w, 12), elbo)
    assert torch.allclose(ciwae_bound(log_w, 1.0), elbo) and torch.allclose(ciwae_bound(log_w, 0.0), iwae)
    assert torch.allclose(ciwae_bound(log_w, 0.25), 0.25 * elbo + 0.75 * iwae)
    pyro.set_rng_seed(7)  # the objectives compute their bound from the same importance samples
    same_draws = importance_sample(model, guide, x, num_particles=6).log_weight
    pyro.set_rng_seed(7)
    assert -float(MIWAE(2, 3)(model, guide)(x)) == pytest.approx(float(miwae_bound(same_draws, 2).sum()), rel=1e-5)
    pyro.set_rng_seed(7)
    assert -float(CIWAE(6, 0.3)(model, guide)(x)) == pytest.approx(float(ciwae_bound(same_draws, 0.3).sum()), rel=1e-5)


def test_psis_khat_is_small_for_a_wide_guide_and_large_for_a_poor_one(ppca):
    w, b, x, exact = ppca
    model = ppca_model(w, b)
    pyro.set_rng_seed(4)
    good = psis_khat(importance_log_weights(model, gaussian_guide(w, b, 0.0, 1.5), x[:100], num_samples=1000))
    poor = psis_khat(importance_log_weights(model, gaussian_guide(w, b, 1.0, 0.3), x[:100], num_samples=1000))
    assert (good < 0.5).mean() > 0.9
    assert (poor > 0.7).mean() > 0.9


def test_psis_khat_of_constant_weights_is_minus_infinity():
    assert psis_khat(torch.zeros(3, 100)).tolist() == [-math.inf] * 3


def test_piwae_gives_the_model_the_iwae_gradient_and_the_guide_the_miwae_gradient():
    from ppl_ssl.system import build_system
    from tests.conftest import tiny_config

    system = build_system(tiny_config("vae", "objective.kind='piwae'", "objective.groups=2", "objective.particles=3",
                                      "augment.enabled=false"), (1, 8, 8))
    views = torch.rand(5, 1, 1, 8, 8)
    pyro.set_rng_seed(11)
    loss, terms = system.training_loss(views)
    loss.backward()
    model_parameters, guide_parameters = list(system.model.parameters()), list(system.guide.parameters())
    routed = [p.grad.clone() for p in model_parameters + guide_parameters]
    pyro.set_rng_seed(11)
    log_w = importance_sample(system.model, system.guide, views, num_particles=6).log_weight
    iwae, miwae = iwae_bound(log_w).sum(), miwae_bound(log_w, 2).sum()
    assert float(loss.detach()) == pytest.approx(-float(iwae.detach()), rel=1e-6) and float(terms["miwae"]) < float(terms["iwae"])
    expected = [-g for g in torch.autograd.grad(iwae, model_parameters, retain_graph=True)]
    expected += [-g for g in torch.autograd.grad(miwae, guide_parameters)]
    assert all(torch.allclose(a, b, atol=1e-5, rtol=1e-4) for a, b in zip(routed, expected))
    # and it is not simply one bound's gradient for everything: the guide's differs from the IWAE bound's
    pyro.set_rng_seed(11)
    log_w = importance_sample(system.model, system.guide, views, num_particles=6).log_weight
    iwae_guide = torch.autograd.grad(iwae_bound(log_w).sum(), guide_parameters)
    assert not all(torch.allclose(-a, b, atol=1e-5) for a, b in zip(iwae_guide, routed[len(model_parameters):]))


def test_objective_terms_stay_out_of_the_importance_weights():
    """CR-VAE's contrastive term is what it optimises, no part of p(x, z): the weights do not depend on γ."""
    from ppl_ssl.data import as_float
    from ppl_ssl.system import build_system
    from tests.conftest import tiny_config

    views = as_float((torch.rand(6, 2, 1, 8, 8) * 255).to(torch.uint8))
    weights = []
    for gamma in (0.0, 5.0):
        torch.manual_seed(0)
        system = build_system(tiny_config("crvae-contrastive", f"model.program.gamma={gamma}"), (1, 8, 8))
        pyro.set_rng_seed(1)
        weights.append(importance_sample(system.model, system.guide, views, num_particles=3).log_weight)
    assert torch.equal(weights[0], weights[1])
