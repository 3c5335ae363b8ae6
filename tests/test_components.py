"""Every registered prior × guide × objective: builds (or is refused with a reason), takes an SVI step, saves and
loads, and gives a finite importance-weighted NLL."""
import dataclasses
import itertools
import math

import pyro
import pytest
import torch

from ppl_ssl.errors import ConfigError
from ppl_ssl.evaluation import importance_weighted_nll, held_out_log_likelihood
from ppl_ssl.registry import GUIDES, OBJECTIVES, PRIORS
from ppl_ssl.system import build_system
from tests.conftest import tiny_config

SHAPE = (1, 8, 8)
# guides that belong to one program are tested with it: selfVAE's in test_selfvae.py, VQ-VAE's in test_quantisation.py,
# the HVAE's in test_hvae.py, the RHVAE's in test_rhvae.py
# codes on a manifold: the sphere's von Mises–Fisher guide and uniform prior go together, as do the Poincaré ball's
# wrapped normals (each refuses the others: test_hyperspherical.py, test_poincare.py)
MANIFOLDS = [("hyperspherical_uniform", "von_mises_fisher"), ("poincare_wrapped_normal", "poincare_wrapped_normal")]
SSL_GUIDES = [name for name in GUIDES.names()
              if name not in ("selfvae", "vector_quantised", "hamiltonian", "riemannian_hamiltonian", *(guide for _, guide in MANIFOLDS))]
COMBINATIONS = (list(itertools.product([p for p in PRIORS.names() if p not in dict(MANIFOLDS)], SSL_GUIDES, OBJECTIVES.names()))
                + [(prior, guide, objective) for prior, guide in MANIFOLDS for objective in OBJECTIVES.names()])


def test_the_registries_hold_what_the_issue_names():
    assert {"standard_normal", "ssl_group", "mog", "vamp", "realnvp", "maf"} <= set(PRIORS.names())
    assert {"mean_field", "iaf", "linear_nf", "delta"} <= set(GUIDES.names())
    assert {"elbo", "iwae", "miwae", "ciwae", "piwae"} <= set(OBJECTIVES.names())


@pytest.mark.parametrize("prior,guide,objective", COMBINATIONS)
def test_every_prior_guide_objective_combination(prior, guide, objective, tmp_path):
    options = OBJECTIVES[objective].options
    particles = ["objective.particles=3"] if options and "particles" in {f.name for f in dataclasses.fields(options)} else []
    config = tiny_config("simvae", "model.views=2", f"model.prior.kind='{prior}'", f"guide.kind='{guide}'",
                         f"objective.kind='{objective}'", *particles)
    if objective == "piwae" and PRIORS[prior].component.shares_the_encoder:  # its gradients cannot be routed apart
        with pytest.raises(ConfigError, match="shares the guide's encoder"):
            build_system(config, SHAPE)
        return
    if OBJECTIVES[objective].component.needs_guide_density and not GUIDES[guide].component.has_density:  # a point's q
        with pytest.raises(ConfigError, match="no density"):
            build_system(config, SHAPE)
        return
    torch.manual_seed(0)
    system = build_system(config, SHAPE)
    optimiser = torch.optim.Adam(system.parameters(), lr=1e-3)
    views = torch.rand(4, 2, *SHAPE)
    loss, terms = system.training_loss(views)
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    assert torch.isfinite(loss) and all(math.isfinite(float(v)) for v in terms.values())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in system.model.decoder.parameters())

    torch.save(system.state_dict(), tmp_path / "weights.pt")
    restored = build_system(config, SHAPE)
    restored.load_state_dict(torch.load(tmp_path / "weights.pt", weights_only=True))
    system.eval(), restored.eval()
    pyro.set_rng_seed(5)
    before = float(system.training_loss(views)[0].detach())
    pyro.set_rng_seed(5)
    assert float(restored.training_loss(views)[0].detach()) == pytest.approx(before, rel=1e-5)

    images = (torch.rand(6, *SHAPE) * 255).to(torch.uint8)
    if guide == "delta":
        with pytest.raises(ConfigError, match="no density"):
            held_out_log_likelihood(system, images, num_samples=4)
    else:
        log_px = importance_weighted_nll(system.model, system.guide, images.float().div(255).unsqueeze(1), num_samples=8,
                                         batch_size=4, particle_batch=3)
        assert log_px.shape == (6,) and torch.isfinite(log_px).all()


def test_iwae_refuses_a_weighted_kl():
    with pytest.raises(ConfigError, match="unknown key 'objective.beta'.*allowed keys in objective: particles"):
        tiny_config("vae", "objective.kind='iwae'", "objective.beta=2.0")
    with pytest.raises(ConfigError, match="unknown key 'objective.kl_warmup_epochs'"):
        tiny_config("vae", "objective.kind='iwae'", "objective.kl_warmup_epochs=1.0")


def test_flow_components_need_two_latent_dimensions():
    for assignment in ("model.prior.kind='realnvp'", "model.prior.kind='maf'", "guide.kind='iaf'"):
        with pytest.raises(ConfigError, match="latent_dim ≥ 2"):
            build_system(tiny_config("vae", assignment, "model.latent_dim=1"), SHAPE)


def test_bits_per_dim_uses_a_discrete_likelihood_as_it_is_and_bins_a_density():
    images = (torch.rand(5, *SHAPE) > 0.5).to(torch.uint8) * 255
    dims = math.prod(SHAPE)
    for likelihood, bin_term in (("bernoulli", 0.0), ("gaussian", dims * math.log(255))):
        system = build_system(tiny_config("vae", f"model.likelihood.kind='{likelihood}'"), SHAPE)
        scores = held_out_log_likelihood(system, images, num_samples=4)
        assert scores["test_bpd"] == pytest.approx((scores["test_nll"] + bin_term) / (dims * math.log(2)))
