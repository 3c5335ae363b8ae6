"""Model graphs (pyro.render_model): the plates, the observed sites, and the content-explicit SSL model that draws
the same prior as the collapsed one used for fitting."""
import math

import pyro
import pyro.distributions as dist
import pytest
import torch

import ppl_ssl
from ppl_ssl.graphs import guide_graph, model_graph
from ppl_ssl.models.ssl import ssl_model_with_content
from ppl_ssl.system import build_system
from tests.conftest import tiny_config


def _graph(preset, *extra, views=3):
    system = build_system(tiny_config(preset, f"model.views={views}", *extra), (1, 8, 8))
    return model_graph(system, views, (1, 8, 8)).source, guide_graph(system, views, (1, 8, 8)).source


def test_the_ssl_model_is_drawn_with_its_plates_content_and_observed_views():
    model, guide = _graph("simvae")
    assert "cluster_images" in model and "cluster_views" in model
    assert "content -> z" in model and "z -> x" in model
    assert "x [label=x fillcolor=gray" in model and "z [label=z fillcolor=white" in model  # observed vs latent
    assert "cluster_images" in guide and "z [label=z" in guide


def test_cr_vae_shows_its_factor_and_selfvae_its_levels():
    crvae, _ = _graph("crvae-contrastive", views=2)
    assert "z -> contrast" in crvae and "contrast [label=contrast fillcolor=gray" in crvae
    consistency, _ = _graph("crvae-consistency", views=2)
    assert "consistency [label=consistency fillcolor=gray" in consistency
    selfvae, _ = _graph("selfvae-hier", views=1)
    for site in ("u", "y1", "y2", "z1", "z2", "x"):
        assert f"{site} [label={site}" in selfvae
    assert "y1 [label=y1 fillcolor=gray" in selfvae  # the transforms y_k = d(x) are observed


def test_the_content_explicit_model_has_the_collapsed_prior_of_the_views():
    # z^1..z^J given ψ ~ N(0, γ²) and z^j | ψ ~ N(ψ, σ²), ψ integrated out: per dimension N(0, σ²I + γ²11ᵀ)
    torch.manual_seed(0)
    j, latent, sigma, gamma = 3, 2, 0.4, 1.3
    trace = pyro.poutine.trace(ssl_model_with_content).get_trace(
        torch.rand(20000, j, 1, 2, 2), lambda z: torch.zeros(*z.shape[:-1], 1, 2, 2),
        lambda mean: dist.Normal(mean, 1.0).to_event(3), latent, sigma, gamma)
    z = trace.nodes["z"]["value"]  # (N, J, L)
    covariance = torch.cov(z[..., 0].T)
    expected = sigma ** 2 * torch.eye(j) + gamma ** 2 * torch.ones(j, j)
    assert torch.allclose(covariance, expected, atol=0.06)
    collapsed = build_system(tiny_config("simvae", f"model.views={j}", f"model.prior.sigma2={sigma ** 2}",
                                         f"model.prior.gamma={gamma}", "model.latent_dim=2"), (1, 8, 8)).model.prior(j)
    exact = dist.MultivariateNormal(torch.zeros(j), expected)
    values = torch.randn(5, j, latent)
    assert torch.allclose(collapsed.log_prob(values), exact.log_prob(values.transpose(1, 2)).sum(-1), atol=1e-4)


def test_render_writes_each_presets_graphs_and_refuses_a_method_without_a_model(tmp_path, capsys):
    from ppl_ssl.commands import render

    written = render.main(["--model", "simvae", "crvae-contrastive", "--views", "2", "--out", str(tmp_path)])
    assert sorted(p.name for p in written) == ["crvae-contrastive_model_and_guide.png", "crvae-contrastive_model_graph.png",
                                               "simvae_model_and_guide.png", "simvae_model_graph.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)
    with pytest.raises(SystemExit) as exit_:
        render.main(["--model", "simclr", "--views", "2", "--out", str(tmp_path)])
    assert exit_.value.code == 2 and "has no Pyro model to draw" in capsys.readouterr().err
