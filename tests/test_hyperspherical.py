"""The hyperspherical VAE's distributions (ppl_ssl/hyperspherical.py) against their definitions: the von Mises–Fisher
normaliser against numerical integration over the sphere, its sampler against the known mean resultant length and
the distribution of μᵀz, its KL to the uniform prior against a Monte Carlo estimate; and the SVAE preset."""
import math

import numpy as np
import pytest
import torch
from scipy import integrate, special, stats

from ppl_ssl.errors import ConfigError
from ppl_ssl.hyperspherical import (HypersphericalUniform, VonMisesFisher, log_bessel_i, log_sphere_area,
                                    mean_resultant_length)
from ppl_ssl.system import build_system
from tests.conftest import tiny_config


def vmf(m: int, kappa: float, direction: int = 0) -> VonMisesFisher:
    return VonMisesFisher(torch.eye(m, dtype=torch.float64)[direction], torch.tensor(kappa, dtype=torch.float64))


def w_density(m: int, kappa: float, log_normaliser: float):
    """The density of w = μᵀz on [−1, 1] when z has density C·exp(κ μᵀz) on S^{m−1}: the surface measure of the
    slice at w is |S^{m−2}| (1 − w²)^{(m−3)/2} dw."""
    return lambda w: math.exp(kappa * w + log_normaliser + log_sphere_area(m - 1)) * (1 - w * w) ** ((m - 3) / 2)


@pytest.mark.parametrize("m", [3, 5, 16])
@pytest.mark.parametrize("kappa", [0.5, 10.0, 200.0])
def test_the_vmf_density_integrates_to_one_over_the_sphere(m, kappa):
    density = w_density(m, kappa, float(vmf(m, kappa).log_normaliser()))
    total, _ = integrate.quad(density, -1, 1, points=[1 - 10 / kappa] if kappa > 10 else None, limit=500)
    assert total == pytest.approx(1.0, abs=1e-8)
    if m == 3:  # the closed form C_3(κ) = κ / (4π sinh κ)
        assert float(vmf(3, kappa).log_normaliser()) == pytest.approx(
            math.log(kappa) - math.log(4 * math.pi) - (kappa + math.log1p(-math.exp(-2 * kappa)) - math.log(2)))


def test_log_bessel_matches_scipy_and_its_gradient_the_finite_difference():
    kappa = torch.tensor([0.3, 2.0, 40.0, 900.0], dtype=torch.float64, requires_grad=True)
    value = log_bessel_i(7.0, kappa)
    expected = np.log(special.ive(7.0, kappa.detach().numpy())) + kappa.detach().numpy()
    assert np.allclose(value.detach().numpy(), expected, rtol=1e-12) and bool(torch.isfinite(value).all())  # no overflow at 900
    assert torch.autograd.gradcheck(lambda k: log_bessel_i(7.0, k), (kappa,), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("m, kappa", [(3, 1.0), (16, 5.0), (16, 80.0)])
def test_vmf_draws_lie_on_the_sphere_with_the_right_law_of_mu_dot_z(m, kappa):
    torch.manual_seed(0)
    q = VonMisesFisher(torch.nn.functional.normalize(torch.randn(m, dtype=torch.float64), dim=0),
                       torch.tensor(kappa, dtype=torch.float64))
    z = q.rsample((4000,))
    assert torch.allclose(z.norm(dim=-1), torch.ones(4000, dtype=torch.float64))
    w = (z @ q.loc).numpy()
    assert abs(w.mean() - float(mean_resultant_length(m, q.concentration))) < 4 * w.std() / math.sqrt(len(w))
    density = w_density(m, kappa, float(q.log_normaliser()))
    cdf = np.vectorize(lambda t: integrate.quad(density, -1, t, limit=200)[0])
    assert stats.kstest(w, cdf).pvalue > 1e-3
    # the directions orthogonal to μ are uniform: their mean is zero
    orthogonal = z - torch.outer(torch.as_tensor(w), q.loc)
    assert float(orthogonal.mean(0).norm()) < 0.1


def test_the_draws_are_differentiable_in_the_direction_and_concentration():
    loc = torch.nn.functional.normalize(torch.randn(5, 4, dtype=torch.float64), dim=-1).requires_grad_()
    kappa = torch.full((5,), 3.0, dtype=torch.float64, requires_grad=True)
    (VonMisesFisher(loc, kappa).rsample() * torch.randn(5, 4, dtype=torch.float64)).sum().backward()
    assert loc.grad is not None and kappa.grad is not None and bool(kappa.grad.abs().sum() > 0)


@pytest.mark.parametrize("kappa", [0.5, 5.0, 50.0])
def test_the_kl_to_the_uniform_prior_is_its_closed_form_and_its_monte_carlo_estimate(kappa):
    torch.manual_seed(1)
    q, p = vmf(16, kappa), HypersphericalUniform(16, dtype=torch.float64)
    kl = float(torch.distributions.kl_divergence(q, p))
    z = q.rsample((20000,))
    samples = (q.log_prob(z) - p.log_prob(z)).numpy()
    assert kl == pytest.approx(samples.mean(), abs=4 * samples.std() / math.sqrt(len(samples)) + 1e-9)
    assert kl >= 0 and float(torch.distributions.kl_divergence(vmf(16, 1e-3), p)) < 1e-5  # κ → 0: the uniform itself
    assert log_sphere_area(3) == pytest.approx(math.log(4 * math.pi))  # |S²| = 4π
    assert float(p.rsample((3,)).norm(dim=-1).sub(1).abs().max()) < 1e-12


def test_the_svae_preset_pairs_the_vmf_guide_with_the_uniform_prior():
    torch.manual_seed(0)
    system = build_system(tiny_config("svae", "augment.enabled=false"), (1, 8, 8))
    images = torch.rand(6, 1, 8, 8)
    codes = system.encode(images)
    assert torch.allclose(codes.norm(dim=-1), torch.ones(6), atol=1e-5)  # the representation: the mode μ
    assert torch.allclose(system.sample_prior(4)[:, 0].norm(dim=-1), torch.ones(4), atol=1e-5)
    with pytest.raises(ConfigError, match="set model.prior.kind = 'hyperspherical_uniform'"):
        build_system(tiny_config("vae", "guide.kind='von_mises_fisher'"), (1, 8, 8))
    with pytest.raises(ConfigError, match="set guide.kind = 'von_mises_fisher'"):
        build_system(tiny_config("vae", "model.prior.kind='hyperspherical_uniform'"), (1, 8, 8))


def test_ais_refuses_codes_on_the_sphere_and_importance_weighting_takes_them():
    from ppl_ssl.evaluation.ais import AISSettings, held_out_ais
    from ppl_ssl.evaluation.likelihood import held_out_log_likelihood

    torch.manual_seed(0)
    system = build_system(tiny_config("svae", "augment.enabled=false"), (1, 8, 8))
    images = (255 * torch.rand(4, 1, 8, 8)).to(torch.uint8)
    with pytest.raises(ConfigError, match="lives on .*a sphere or a hyperbolic ball"):
        held_out_ais(system, images, AISSettings(steps=3))
    assert math.isfinite(held_out_log_likelihood(system, images, 8)["test_nll"])
