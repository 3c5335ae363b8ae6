"""The Hamiltonian VAE (models/hvae.py, guides/hamiltonian.py): its flow's volume change is the tempering's alone,
its density is the one the ELBO needs, with vanishing steps it is the VAE, and its importance weights estimate the
same p(x) as the mean-field guide's."""
import math

import pyro
import pyro.poutine as poutine
import pytest
import torch

from ppl_ssl.errors import ConfigError
from ppl_ssl.evaluation.likelihood import importance_weighted_nll
from ppl_ssl.guides.hamiltonian import tempering_schedule
from ppl_ssl.system import build_system
from tests.conftest import tiny_config

SHAPE = (1, 8, 8)


def system(*assignments: str):
    torch.manual_seed(0)
    return build_system(tiny_config("hvae", "augment.enabled=false", "model.latent_dim=2", *assignments), SHAPE)


def test_the_tempering_schedule_runs_from_root_beta_zero_to_one():
    schedule = tempering_schedule(4, 0.3)
    assert schedule[0] == pytest.approx(math.sqrt(0.3)) and schedule[-1] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(schedule, schedule[1:]))


def test_the_flows_log_determinant_is_the_temperings_alone():
    """Leapfrog steps preserve volume; tempering scales the J·L momenta by √(β_{k−1}/β_k) each step, so
    log |det ∂(z_K, ρ_K)/∂(z_0, ρ_0)| = (J·L/2) log β_0, whatever the potential."""
    hvae = system("guide.steps=4", "guide.step_size=0.3", "guide.beta_zero=0.4")
    views = torch.rand(1, 1, *SHAPE, dtype=torch.float32)
    flow = hvae.guide.posterior(views)

    def move(state):
        z, rho = flow.move(state[:2].view(1, 1, 2), state[2:].view(1, 1, 2))
        return torch.cat([z.flatten(), rho.flatten()])

    jacobian = torch.autograd.functional.jacobian(move, torch.tensor([0.3, -0.2, 0.5, 1.1], dtype=torch.float32))
    assert float(torch.linalg.slogdet(jacobian.double())[1]) == pytest.approx(2 / 2 * math.log(0.4), abs=1e-4)
    moved = move(torch.tensor([0.3, -0.2, 0.5, 1.1], dtype=torch.float32))
    assert not torch.allclose(moved[:2], torch.tensor([0.3, -0.2], dtype=torch.float32))  # the dynamics moved z


def test_its_density_at_its_draws_is_the_start_density_less_the_log_determinant():
    hvae = system("guide.steps=3", "guide.step_size=0.2", "guide.beta_zero=0.3")
    views = torch.rand(4, 1, *SHAPE, dtype=torch.float32)
    flow = hvae.guide.posterior(views)
    torch.manual_seed(5)
    value = flow.rsample()
    torch.manual_seed(5)
    z0 = flow.start.rsample()
    rho0 = torch.randn_like(z0) / math.sqrt(0.3)
    z, rho = flow.move(z0, rho0)
    assert torch.allclose(value, torch.cat([z, rho], -1))
    by_hand = (flow.start.log_prob(z0) + torch.distributions.Normal(0, 1 / math.sqrt(0.3)).log_prob(rho0).sum((-1, -2))
               - 2 / 2 * math.log(0.3))
    assert torch.allclose(flow.log_prob(value), by_hand)
    with pytest.raises(NotImplementedError, match="own draws"):
        flow.log_prob(value.clone())


def log_weight_and_the_vaes(system, views: torch.Tensor, latent_dim: int = 2) -> tuple[float, float]:
    """One draw of a Hamiltonian guide on (z, ρ): its log-weight log p(x, z_K, ρ_K) − log q_K(z_K, ρ_K | x), and the
    VAE's log p(x, z_0) − log q(z_0 | x) at the same draw's starting position."""
    guide_trace = poutine.trace(system.guide).get_trace(views)
    model_trace = poutine.trace(poutine.replay(system.model, trace=guide_trace)).get_trace(views)
    log_w = model_trace.log_prob_sum() - guide_trace.log_prob_sum()
    z0 = guide_trace.nodes["z"]["value"][..., :latent_dim]
    q0 = guide_trace.nodes["z"]["fn"].start
    vae = (system.model.prior.position_prior(1).log_prob(z0)
           + system.model.likelihood(system.model.decoder(z0)).to_event(1).log_prob(views) - q0.log_prob(z0)).sum()
    return float(log_w.detach()), float(vae.detach())


def test_with_vanishing_steps_each_draws_elbo_is_the_vaes():
    """ε → 0 leaves z_0 in place and ρ_K = √β_0 ρ_0 ~ N(0, I): the momentum's terms cancel and the log-weight is the
    VAE's log p(x, z_0) − log q(z_0 | x)."""
    hvae = system("guide.steps=2", "guide.step_size=1e-12", "guide.beta_zero=0.3")
    log_w, vae = log_weight_and_the_vaes(hvae, torch.rand(3, 1, *SHAPE, dtype=torch.float32))
    assert log_w == pytest.approx(vae, abs=1e-3)


def exact_log_px(model, x: torch.Tensor, half_width: float = 7.0, points: int = 561) -> torch.Tensor:
    """log p(x_n) of a 2-D latent by the trapezoid rule on a grid over [−w, w]²."""
    grid = torch.linspace(-half_width, half_width, points)
    z = torch.stack(torch.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 1, 1, 2)      # (G, 1, J=1, 2)
    with torch.no_grad():
        log_joint = torch.cat([model.prior.position_prior(1).log_prob(chunk)
                               + model.likelihood(model.decoder(chunk)).to_event(1).log_prob(x)
                               for chunk in z.split(4096)])                                      # (G, N)
    cell = (grid[1] - grid[0]) ** 2
    return (log_joint.double().logsumexp(0) + math.log(cell)).float()


def test_its_importance_weights_estimate_the_models_likelihood():
    """On a 2-D latent whose log p(x) a grid gives, the importance-weighted estimate with the Hamiltonian guide's
    weights (on (z, ρ), the momentum integrating out) converges to it, as the mean-field guide's does."""
    likelihood = ("model.likelihood.variance=0.5",)
    hvae = system("guide.steps=3", "guide.step_size=0.05", "guide.beta_zero=0.5", *likelihood)
    vae = build_system(tiny_config("vae", "augment.enabled=false", "model.latent_dim=2", *likelihood), SHAPE)
    vae.model.decoder.load_state_dict(hvae.model.decoder.state_dict())  # the same p(x, z)
    vae.guide.encoder.load_state_dict(hvae.guide.encoder.state_dict())
    torch.manual_seed(1)
    with torch.no_grad():  # data from the model itself
        x = (hvae.model.decode_codes(torch.randn(4, 1, 2)) + 0.1 * torch.randn(4, 1, *SHAPE)).clamp(0, 1)
    exact = exact_log_px(hvae.model, x)
    pyro.set_rng_seed(0)
    hamiltonian = importance_weighted_nll(hvae.model, hvae.guide, x, num_samples=20000)
    mean_field = importance_weighted_nll(vae.model, vae.guide, x, num_samples=20000)
    assert torch.allclose(mean_field, exact, atol=0.04), (mean_field, exact)
    assert torch.allclose(hamiltonian, exact, atol=0.04), (hamiltonian, exact)


def test_the_hamiltonian_guide_and_the_hvae_model_need_each_other():
    with pytest.raises(ConfigError, match="set model.program = 'hvae'"):
        build_system(tiny_config("vae", "guide.kind='hamiltonian'"), SHAPE)
    with pytest.raises(ConfigError, match="set guide.kind = 'hamiltonian'"):
        build_system(tiny_config("vae", "model.program='hvae'"), SHAPE)
