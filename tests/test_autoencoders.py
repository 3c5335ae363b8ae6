"""Pythae's deterministic autoencoders as Pyro programs (models/autoencoders.py): each loss against a hand computation
of the terms Pythae's loss functions name, on tiny nets; and each preset fits and evaluates."""
import math

import pytest
import torch

import ppl_ssl
from ppl_ssl.system import build_system
from tests.conftest import tiny_config

SHAPE = (1, 8, 8)
PIXELS = 64


def _system(preset: str, *assignments: str):
    torch.manual_seed(0)
    system = build_system(tiny_config(preset, "augment.enabled=false", *assignments), SHAPE)
    return system.train()


def _codes_and_squared_errors(system, images):
    z = system.guide.encoder(images)[0]                                     # the delta guide's point
    mean = torch.sigmoid(system.model.decoder(z))
    return z, (mean - images).pow(2).flatten(1).sum(1)


def _gaussian_constant(variance: float = 0.5) -> float:
    return PIXELS / 2 * math.log(2 * math.pi * variance)


def test_the_ae_pays_for_reconstruction_alone():
    system = _system("ae")
    images = torch.rand(6, *SHAPE)
    loss, _ = system(images.unsqueeze(1))
    _, sse = _codes_and_squared_errors(system, images)
    # −log N(x; x̂, ½I) = ‖x − x̂‖² + (D/2) log π, summed over the batch; the code has no density
    assert float(loss.detach()) == pytest.approx(float(sse.sum()) + 6 * _gaussian_constant(), rel=1e-5)


def test_rae_l2_adds_the_codes_gaussian_penalty_and_the_decoders_weight_penalty():
    system = _system("rae-l2", "model.program.code_weight=0.5", "model.program.decoder_weight_penalty=0.01")
    images = torch.rand(6, *SHAPE)
    loss, _ = system(images.unsqueeze(1))
    z, sse = _codes_and_squared_errors(system, images)
    beta, lam, latent = 0.5, 0.01, z.shape[1]
    code = beta / 2 * z.pow(2).sum(1) + latent / 2 * math.log(2 * math.pi / beta)  # −log N(z; 0, I/β)
    weights = sum(float(p.pow(2).sum()) for p in system.model.decoder.parameters())
    expected = float((sse + _gaussian_constant() + code).sum()) + lam / 2 * 6 * weights
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)


def test_rae_gp_adds_the_gradient_penalty_whose_value_for_a_linear_decoder_is_closed_form():
    from ppl_ssl.models.autoencoders import gradient_penalty

    weight = torch.randn(PIXELS, 3)
    z = torch.randn(5, 3, requires_grad=True)
    raw = z @ weight.T                                            # D(z) = W z: ∇_z Σ_pixels D(z) = 1ᵀW for every code
    assert float(gradient_penalty(z, raw)) == pytest.approx(5 * float(weight.sum(0).pow(2).sum()), rel=1e-5)
    with torch.no_grad():
        assert float(gradient_penalty(z, z.detach() @ weight.T)) == 0.0  # no gradient taken: no penalty

    system = _system("rae-gp", "model.program.gradient_penalty=1.0")
    images = torch.rand(6, *SHAPE)
    without = _system("rae-gp", "model.program.gradient_penalty=0.0")(images.unsqueeze(1))[0]
    with_penalty = system(images.unsqueeze(1))[0]
    assert float(with_penalty.detach()) > float(without.detach())  # same weights (same seed), plus a positive penalty
    with_penalty.backward()                       # the penalty is differentiable: RAE-GP trains through it
    assert all(p.grad is not None for p in system.model.decoder.parameters())


def test_wae_adds_lambda_n_times_the_mmd_of_the_codes_against_prior_draws():
    from ppl_ssl.divergences import mmd, pythae_kernel

    system = _system("wae", "model.program.mmd_weight=2.0")
    images = torch.rand(6, *SHAPE)
    torch.manual_seed(7)
    loss, _ = system(images.unsqueeze(1))
    z, sse = _codes_and_squared_errors(system, images)
    torch.manual_seed(7)
    draws = torch.randn(6, 1, z.shape[1]).flatten(0, 1)  # the same prior draws the model took
    kernel = pythae_kernel("imq", z.shape[1], 1.0, [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0])
    expected = float(sse.sum()) + 6 * _gaussian_constant() + 2.0 * 6 * float(mmd(z, draws, kernel))
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("preset", ["ae", "rae-l2", "rae-gp", "wae", "aae", "vq-vae", "infovae-imq", "beta-tc-vae", "miwae", "ciwae", "piwae"])
def test_each_preset_fits_and_evaluates(preset, tmp_path):
    metrics = ppl_ssl.fit_and_evaluate(tiny_config(preset), tmp_path / preset, progress=False)
    assert metrics["reconstruction_mse"] < 0.2 and 0 < metrics["knn_accuracy"] <= 1


def test_beta_tc_vae_at_unit_weights_is_the_vae_and_beta_weighs_the_total_correlation():
    from ppl_ssl.divergences import decomposed_kl

    images = torch.rand(16, 1, *SHAPE)
    losses = {}
    for beta in (1.0, 3.0):
        system = _system("beta-tc-vae", f"model.program.beta={beta}")
        torch.manual_seed(3)
        losses[beta] = float(system(images)[0].detach())
    vae = _system("vae", "model.likelihood.variance=0.02")
    torch.manual_seed(3)
    assert losses[1.0] == pytest.approx(float(vae(images)[0].detach()), rel=1e-6)  # α = β = γ = 1: the VAE
    torch.manual_seed(3)
    system = _system("beta-tc-vae", "model.program.beta=3.0")
    loc, scale = system.guide.encoder(images.flatten(0, 1))
    torch.manual_seed(3)
    z = loc + scale * torch.randn_like(loc)  # the guide's reparameterised draw under the same seed
    tc = float(decomposed_kl(z, loc, scale)["total_correlation"].sum())
    assert losses[3.0] - losses[1.0] == pytest.approx(2 * tc, rel=1e-4, abs=1e-3)
