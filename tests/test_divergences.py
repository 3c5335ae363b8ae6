"""InfoVAE's MMD and InfoMax-VAE's mutual-information bound against answers known in closed form."""
import math

import pytest
import torch

from ppl_ssl.divergences import (ImageDiscriminator, MutualInformationCritic, imq_kernel, mmd, mmd_rbf,
                                 with_scaled_parameter_gradients)


def _gaussian_mmd(shift: torch.Tensor, bandwidth: float) -> float:
    # for N(0, I) and N(μ, I) in d dimensions, E k(a, b) = (s²/(s² + 2))^{d/2} exp(−‖Δ‖²/(2(s² + 2))), s = bandwidth
    d, s2 = len(shift), bandwidth ** 2
    scale = (s2 / (s2 + 2)) ** (d / 2)
    return 2 * scale * (1 - math.exp(-float(shift.pow(2).sum()) / (2 * (s2 + 2))))


@pytest.mark.parametrize("shift", [0.0, 0.5, 1.5])
def test_mmd_of_shifted_gaussians_matches_its_closed_form(shift):
    torch.manual_seed(0)
    mu = torch.full((3,), shift)
    x, y = torch.randn(4000, 3, dtype=torch.float64), torch.randn(4000, 3, dtype=torch.float64) + mu
    assert float(mmd_rbf(x, y, 1.2)) == pytest.approx(_gaussian_mmd(mu, 1.2), abs=4e-3)


def _imq_expectation(scale: float, dim: int, squared_shift: float) -> float:
    # a − b ~ N(Δ, 2I) for a ~ N(0, I), b ~ N(Δ, I): ‖a − b‖² = 2R with R noncentral χ²(dim, ‖Δ‖²/2), integrated by scipy
    from scipy import stats

    if squared_shift == 0:
        return stats.chi2(dim).expect(lambda r: scale / (scale + 2 * r))
    return stats.ncx2(dim, squared_shift / 2).expect(lambda r: scale / (scale + 2 * r))


@pytest.mark.parametrize("shift", [0.0, 0.5, 1.5])
def test_mmd_under_the_inverse_multiquadratic_kernel_matches_numerical_integration(shift):
    torch.manual_seed(1)
    dim, multipliers = 3, (0.5, 1.0, 2.0)
    scale = 2 * dim  # Pythae's WAE: 2 · L · bandwidth², bandwidth 1
    mu = torch.full((dim,), shift)
    kernel = imq_kernel(scale, multipliers)
    # the mean of 10 unbiased estimates on 2,000 points each: its standard error is about 0.0025 here
    estimates = [float(mmd(torch.randn(2000, dim, dtype=torch.float64), torch.randn(2000, dim, dtype=torch.float64) + mu,
                           kernel)) for _ in range(10)]
    within = sum(_imq_expectation(s * scale, dim, 0.0) for s in multipliers)
    across = sum(_imq_expectation(s * scale, dim, float(mu.pow(2).sum())) for s in multipliers)
    assert sum(estimates) / len(estimates) == pytest.approx(2 * within - 2 * across, abs=0.01)


def test_the_critic_learns_the_mutual_information_of_correlated_gaussians():
    # x = ρ z + √(1 − ρ²) ε per dimension: I(x; z) = −(d/2) log(1 − ρ²) = 1.02 nats for d = 2, ρ = 0.8
    torch.manual_seed(0)
    rho, d = 0.8, 2
    truth = -d / 2 * math.log(1 - rho ** 2)
    critic = MutualInformationCritic(d, d, hidden=64)
    optimiser = torch.optim.Adam(critic.parameters(), lr=3e-3)

    def batch(n):
        z = torch.randn(n, d)
        return rho * z + math.sqrt(1 - rho ** 2) * torch.randn(n, d), z

    for _ in range(1500):
        x, z = batch(256)
        loss = -critic(x, z)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        estimate = float(torch.stack([critic(*batch(4096)) for _ in range(5)]).mean())
        independent = float(critic(torch.randn(4096, d), torch.randn(4096, d)))
    assert truth - 0.2 < estimate < truth + 0.1   # a lower bound, nearly tight after training
    assert independent < 0.05                     # a lower bound on I = 0 for independent pairs


def test_the_kl_splits_exactly_and_its_total_correlation_and_mi_match_a_linear_gaussian_model():
    from ppl_ssl.divergences import decomposed_kl

    # codes μ_n ~ N(0, Σ), q(z | x_n) = N(μ_n, σ²I): the aggregate q(z) = N(0, Σ + σ²I), so
    # TC = ½ Σ_d log(Σ_dd + σ²) − ½ log det(Σ + σ²I) and I(x; z) = ½ log det(Σ + σ²I) − ½ log det(σ²I)
    torch.manual_seed(0)
    covariance, variance, m = torch.tensor([[1.0, 0.8], [0.8, 1.0]], dtype=torch.float64), 0.1, 3000
    loc = torch.randn(m, 2, dtype=torch.float64) @ torch.linalg.cholesky(covariance).T
    scale = torch.full_like(loc, math.sqrt(variance))
    z = loc + scale * torch.randn_like(loc)
    parts = decomposed_kl(z, loc, scale)
    own = torch.distributions.Normal(loc, scale).log_prob(z).sum(-1)
    prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    assert torch.allclose(sum(parts.values()), own - prior)  # the three parts are the ELBO's KL, code by code
    aggregate = covariance + variance * torch.eye(2, dtype=torch.float64)
    total_correlation = 0.5 * float(torch.log(aggregate.diagonal()).sum() - torch.logdet(aggregate))
    information = 0.5 * float(torch.logdet(aggregate) - 2 * math.log(variance))
    assert float(parts["total_correlation"].mean()) == pytest.approx(total_correlation, abs=0.05)  # 0.376 nats
    assert float(parts["mutual_information"].mean()) == pytest.approx(information, abs=0.05)


def test_the_image_discriminators_one_pass_gives_its_logit_and_a_layers_features():
    torch.manual_seed(0)
    discriminator, x = ImageDiscriminator((1, 16, 16), (4, 8, 16)), torch.rand(5, 1, 16, 16)
    for layer in (1, 2, 3):
        logit, features = discriminator.logit_and_features(x, layer)
        assert torch.equal(logit, discriminator.logit(x)) and torch.equal(features, discriminator.features(x, layer))


@pytest.mark.parametrize("scale", [0.0, 0.3, 1.0])
def test_scaled_parameter_gradients_scale_the_modules_share_and_leave_the_inputs(scale):
    torch.manual_seed(0)
    module, x = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)), torch.randn(6, 3)
    x.requires_grad_(True)
    plain = module(x).pow(2).sum()
    scaled = with_scaled_parameter_gradients(module, torch.tensor(scale), x).pow(2).sum()
    assert torch.equal(plain, scaled)  # the same value
    weights = [x, *module.parameters()]
    for i, (a, b) in enumerate(zip(torch.autograd.grad(plain, weights), torch.autograd.grad(scaled, weights))):
        assert torch.allclose(b, a if i == 0 else scale * a)  # the input's gradient whole, the parameters' scaled
