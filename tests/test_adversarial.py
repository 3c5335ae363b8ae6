"""The adversarial members of Pythae's family: FactorVAE (models/factor_vae.py) and the AAE (models/autoencoders.py).
The discriminator's density-ratio estimate of the total correlation against the closed form of a Gaussian, each
loss against a hand computation, and the two training rules of each kept apart by what each term reaches."""
import math

import pytest
import torch

import ppl_ssl
from ppl_ssl.divergences import TotalCorrelationDiscriminator, permute_dims
from ppl_ssl.system import build_system
from tests.conftest import tiny_config


def test_permuting_each_dimension_keeps_the_marginals_and_removes_the_correlation():
    torch.manual_seed(0)
    z = torch.randn(4000, 2) @ torch.tensor([[1.0, 0.9], [0.0, 0.436]])  # correlation ≈ 0.9
    shuffled = permute_dims(z)
    for d in range(2):
        assert torch.equal(shuffled[:, d].sort().values, z[:, d].sort().values)
    assert abs(float(torch.corrcoef(shuffled.T)[0, 1])) < 0.05 < 0.85 < float(torch.corrcoef(z.T)[0, 1])


def test_the_discriminator_estimates_the_total_correlation_of_a_gaussian():
    """For N(0, Σ) with correlation matrix R, TC = KL(q(z) ‖ Π_d q(z_d)) = −½ log det R: 0.511 nats at ρ = 0.8."""
    torch.manual_seed(0)
    rho = 0.8
    chol = torch.linalg.cholesky(torch.tensor([[1.0, rho, 0.0], [rho, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    exact = -0.5 * math.log(1 - rho**2)
    discriminator = TotalCorrelationDiscriminator(3, [64, 64])
    optimiser = torch.optim.Adam(discriminator.parameters(), lr=1e-3)
    for _ in range(1500):
        loss = discriminator.tc_loss(torch.randn(512, 3) @ chol.T)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    estimate = float(discriminator.log_ratio(torch.randn(20000, 3) @ chol.T).mean())
    assert estimate == pytest.approx(exact, abs=0.05)


def _system(*assignments: str):
    torch.manual_seed(0)
    return build_system(tiny_config("factor-vae", "augment.enabled=false",
                                    "model.program.discriminator_hidden=[16, 16]", *assignments), (1, 8, 8)).train()


def _gradients(system, images, seed=3):
    torch.manual_seed(seed)
    system.zero_grad()
    loss, _ = system(images)
    loss.backward()
    return {name: p.grad.clone() for name, p in system.named_parameters() if p.grad is not None}


def test_the_tc_term_trains_the_encoder_and_never_the_discriminator():
    images = torch.rand(16, 1, 1, 8, 8)
    without, with_tc = _gradients(_system("model.program.gamma=0.0"), images), _gradients(_system("model.program.gamma=5.0"), images)
    discriminator = [name for name in without if "discriminator" in name]
    encoder = [name for name in without if "encoder" in name]
    assert discriminator and encoder
    for name in discriminator:  # D learns from its cross-entropy alone, whatever γ
        assert torch.allclose(without[name], with_tc[name], atol=1e-6)
    assert any(not torch.allclose(without[name], with_tc[name]) for name in encoder)


def test_at_gamma_zero_the_loss_is_the_vaes_plus_the_discriminators_cross_entropy():
    images = torch.rand(16, 1, 1, 8, 8)
    system = _system("model.program.gamma=0.0")
    torch.manual_seed(3)
    loss, terms = system(images)
    assert float(loss.detach()) == pytest.approx(float(-terms["elbo"] - terms["discriminator"]), rel=1e-5)
    assert 0 < -float(terms["discriminator"]) / 16 < 1.0  # n × a cross-entropy near log 2 at the start


def test_factor_vae_fits_and_evaluates(tmp_path):
    metrics = ppl_ssl.fit_and_evaluate(tiny_config("factor-vae", "model.program.discriminator_hidden=[32, 32]"),
                                       tmp_path / "run", progress=False)
    assert metrics["reconstruction_mse"] < 0.2 and 0 < metrics["knn_accuracy"] <= 1


def _aae(*assignments: str):
    torch.manual_seed(0)
    return build_system(tiny_config("aae", "augment.enabled=false", *assignments), (1, 8, 8)).train()


def test_the_aae_loss_is_reconstruction_plus_fooling_plus_the_discriminators_cross_entropy():
    import torch.nn.functional as F

    system = _aae()
    images = torch.rand(6, 1, 1, 8, 8)
    torch.manual_seed(3)
    loss, _ = system(images)
    torch.manual_seed(3)
    with torch.no_grad():
        loc, scale = system.guide.encoder(images.flatten(0, 1))
        z = loc + scale * torch.randn_like(loc)                # the guide's noisy point
        prior_draws = system.model.prior(1).sample((6,)).reshape(6, -1)  # the model's draws, in the same order
        sse = (torch.sigmoid(system.model.decoder(z)) - images.flatten(0, 1)).pow(2).flatten(1).sum(1)
        discriminator = system.model.discriminator
        fool = F.softplus(-discriminator(z)).sum()             # Σ BCE(D(z), 1)
        cross_entropy = 0.5 * (F.softplus(-discriminator(prior_draws)).mean() + F.softplus(discriminator(z)).mean())
    constant = 64 / 2 * math.log(2 * math.pi * 0.5)         # −log N(x; x̂, ½I) = ‖x − x̂‖² + this
    expected = float(sse.sum()) + 6 * constant + float(fool) + 6 * float(cross_entropy)
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)


def test_fooling_the_aae_discriminator_trains_the_encoder_and_never_the_discriminator():
    images = torch.rand(16, 1, 1, 8, 8)
    without = _gradients(_aae("model.program.adversarial_weight=0.0"), images)
    with_fooling = _gradients(_aae("model.program.adversarial_weight=3.0"), images)
    discriminator = [name for name in without if "discriminator" in name]
    encoder = [name for name in without if "encoder" in name]
    assert discriminator and encoder
    for name in discriminator:
        assert torch.allclose(without[name], with_fooling[name], atol=1e-6)
    assert any(not torch.allclose(without[name], with_fooling[name]) for name in encoder)
