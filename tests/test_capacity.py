"""The disentangled β-VAE's objective (Burgess et al.): reconstruction − β·|KL − C(t)|, the capacity rising
linearly; its loss against a hand computation with the closed-form Gaussian KL."""
import pyro.poutine as poutine
import pytest
import torch

import ppl_ssl
from ppl_ssl.system import build_system
from tests.conftest import tiny_config


def _system(*assignments: str):
    torch.manual_seed(0)
    return build_system(tiny_config("disentangled-beta-vae", "augment.enabled=false", *assignments), (1, 8, 8)).train()


def test_the_capacity_rises_linearly_to_its_maximum():
    system = _system("objective.capacity=40.0", "objective.warmup_epochs=20.0")
    assert [system.kl_weight_at(t) for t in (0.0, 5.0, 20.0, 100.0)] == [0.0, 10.0, 40.0, 40.0]
    assert _system("objective.warmup_epochs=0.0").kl_weight_at(0.0) == 50.0


@pytest.mark.parametrize("capacity", [0.0, 30.0])
def test_the_loss_is_reconstruction_plus_beta_times_the_distance_of_the_kl_from_the_capacity(capacity):
    system = _system("objective.beta=4.0")
    views = torch.rand(6, 1, 1, 8, 8)
    torch.manual_seed(3)
    loss, terms = system.training_loss(views, kl_weight=capacity)
    torch.manual_seed(3)
    with torch.no_grad():
        z = poutine.trace(system.guide).get_trace(views).nodes["z"]["value"]
        loc, scale = system.guide.encoder(views.flatten(0, 1))
        kl = 0.5 * (scale.pow(2) + loc.pow(2) - 1 - scale.pow(2).log()).sum(-1)  # KL(N(μ, σ²) ‖ N(0, I)) per image
        log_likelihood = system.model.likelihood(system.model.decoder(z)).to_event(1).log_prob(views).reshape(6, -1).sum(-1)
    expected = float((-log_likelihood + 4.0 * (kl - capacity).abs()).sum())
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    assert float(terms["kl"]) == pytest.approx(float(kl.sum()), rel=1e-5)


def test_the_disentangled_beta_vae_fits_and_evaluates(tmp_path):
    metrics = ppl_ssl.fit_and_evaluate(tiny_config("disentangled-beta-vae", epochs=2), tmp_path / "run", progress=False)
    assert metrics["reconstruction_mse"] < 0.2 and 0 < metrics["knn_accuracy"] <= 1
