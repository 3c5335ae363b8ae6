"""selfVAE: the hierarchical program over deterministic transforms fits, reloads and evaluates; its bound is right."""
import math

import pyro.poutine as poutine
import pytest
import torch

import ppl_ssl
from ppl_ssl.errors import ConfigError
from ppl_ssl.system import build_system
from ppl_ssl.train.setup import load_data_for
from ppl_ssl.selfvae.transforms import transform_chain
from tests.conftest import tiny_config

SMALL = ["model.program.channels=8", "model.program.components=2", "eval.nll_samples=8", "eval.style_probe=false"]


@pytest.mark.parametrize("preset, levels", [("selfvae-downscale", 2), ("selfvae-sketch", 2), ("selfvae-hier", 3)])
def test_selfvae_fits_reloads_and_reports_bits_per_dim(tmp_path, preset, levels):
    config = tiny_config(preset, *SMALL, epochs=2)
    metrics = ppl_ssl.fit_and_evaluate(config, tmp_path / "run", progress=False)
    assert 0 < metrics["test_bpd"] < 8
    assert metrics["test_bpd"] == pytest.approx(metrics["test_nll"] / (64 * math.log(2)))  # discrete: no D·ln 255
    assert metrics["test_bpd"] <= metrics["test_elbo_bpd"]  # the IW bound ≥ the ELBO on the same draws (Jensen)
    parts = ["u", *(f"z{k}" for k in range(1, levels))]
    assert all(0 <= metrics[f"knn_accuracy_{p}"] <= 1 and 0 <= metrics[f"linear_probe_accuracy_{p}"] <= 1 for p in parts)
    run = ppl_ssl.load_run(tmp_path / "run")
    images = torch.rand(3, 1, 8, 8)
    assert run.encode(images).shape == (3, levels * config.model.latent_dim)  # u and every z_k, concatenated
    reconstruction = run.reconstruct(images)
    assert reconstruction.shape == (3, 1, 8, 8) and torch.equal(reconstruction, torch.round(reconstruction * 255) / 255)


def test_the_program_observes_every_level_and_samples_one_latent_per_level():
    config = tiny_config("selfvae-hier", *SMALL)
    system = build_system(config, (1, 8, 8))
    x = (torch.randint(0, 256, (5, 1, 1, 8, 8)) / 255).float()
    guide_trace = poutine.trace(system.guide).get_trace(x)
    model_trace = poutine.trace(poutine.replay(system.model, trace=guide_trace)).get_trace(x)
    observed = {n: s["value"] for n, s in model_trace.nodes.items() if s["type"] == "sample" and s["is_observed"]}
    latent = [n for n, s in model_trace.nodes.items() if s["type"] == "sample" and not s["is_observed"] and n != "images"]
    assert list(observed) == ["y1", "y2", "x"] and latent == ["u", "z1", "z2"]
    chain = transform_chain(x[:, 0], "downscale", 3)
    assert all(torch.equal(observed[n], y) for n, y in zip(["y1", "y2", "x"], chain))  # y = d(x), observed
    assert [tuple(v.shape[-2:]) for v in observed.values()] == [(2, 2), (4, 4), (8, 8)]
    elbo = model_trace.log_prob_sum() - guide_trace.log_prob_sum()
    assert torch.isfinite(elbo)


def test_selfvae_program_and_guide_must_go_together():
    with pytest.raises(ConfigError, match="go together"):
        build_system(tiny_config("selfvae-downscale", "guide.kind=mean_field"), (1, 8, 8))
    with pytest.raises(ConfigError, match="one image at a time"):
        build_system(tiny_config("selfvae-downscale", "model.views=2"), (1, 8, 8))


def test_every_mode_returns_images_and_what_it_sends(tmp_path):
    from ppl_ssl.selfvae.modes import MODES, quality, run_mode

    config = tiny_config("selfvae-downscale", *SMALL, "train.lr=3e-3", epochs=8)
    ppl_ssl.fit_and_evaluate(config, tmp_path / "run", progress=False)
    run = ppl_ssl.load_run(tmp_path / "run")
    x = load_data_for(run.config, "cpu").test_x[:200].float() / 255
    torch.manual_seed(0)
    results = {m: run_mode(run.system.model, run.system.guide, x, m) for m in MODES}
    for mode, result in results.items():
        assert result.images.shape == x.shape and result.sent_bits.shape == (200,), mode
        assert torch.equal(result.images, torch.round(result.images * 255) / 255)
    assert float(results["generation"].sent_bits.sum()) == 0.0
    assert torch.all(results["conditional-generation"].sent_bits == 8 * 4 * 4)  # y = the 4×4 downscale, 8 bits a value
    assert results["conditional-reconstruction"].sent == ("y1", "z1")
    # the true y and an inferred z reconstruct x better than unconditional generation does
    assert quality(results["conditional-reconstruction"].images, x)["mse"] < quality(results["generation"].images, x)["mse"]


def test_elbo_terms_per_level_add_up_to_the_elbo():
    from ppl_ssl.evaluation import site_terms

    config = tiny_config("selfvae-hier", *SMALL)
    system = build_system(config, (1, 8, 8)).eval()
    images = (torch.randint(0, 256, (6, 1, 8, 8)) / 255).float()
    torch.manual_seed(0)
    terms = site_terms(system, images)
    assert set(terms) == {"re_y1", "re_y2", "re_x", "kl_u", "kl_z1", "kl_z2"}
    torch.manual_seed(0)
    guide_trace = poutine.trace(system.guide).get_trace(images.unsqueeze(1))
    model_trace = poutine.trace(poutine.replay(system.model, trace=guide_trace)).get_trace(images.unsqueeze(1))
    elbo = float((model_trace.log_prob_sum() - guide_trace.log_prob_sum()).detach()) / 6
    assert sum(v for k, v in terms.items() if k.startswith("re_")) - sum(v for k, v in terms.items() if k.startswith("kl_")) == pytest.approx(elbo, rel=1e-4)


@pytest.mark.parametrize("prior", ["standard_normal", "mog", "realnvp", "maf", "vamp"])
@pytest.mark.parametrize("objective", ["elbo", "iwae"])
def test_selfvae_takes_every_prior_for_u_and_both_objectives(prior, objective):
    from ppl_ssl.evaluation import importance_weighted_nll

    config = tiny_config("selfvae-downscale", *SMALL, f"model.prior.kind='{prior}'", f"objective.kind='{objective}'",
                         "objective.particles=3")
    torch.manual_seed(0)
    system = build_system(config, (1, 8, 8))
    views = (torch.randint(0, 256, (4, 1, 1, 8, 8)) / 255).float()
    loss, terms = system.training_loss(views)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(torch.as_tensor(v)) for v in terms.values())
    log_px = importance_weighted_nll(system.model, system.guide, views, num_samples=5)
    assert log_px.shape == (4,) and torch.all(torch.isfinite(log_px)) and torch.all(log_px < 0)  # a discrete model: p ≤ 1


def test_one_level_is_the_vae_with_selfvaes_nets_and_has_no_conditional_modes(tmp_path):
    from ppl_ssl.selfvae.run import selfvae_modes_run
    from ppl_ssl.selfvae.modes import available_modes, run_mode

    config = tiny_config("vae-logistic", *SMALL, epochs=2)
    assert config.model.program.options.levels == 1
    system = build_system(config, (1, 8, 8))
    x = (torch.randint(0, 256, (5, 1, 1, 8, 8)) / 255).float()
    guide_trace = poutine.trace(system.guide).get_trace(x)
    model_trace = poutine.trace(poutine.replay(system.model, trace=guide_trace)).get_trace(x)
    sites = [n for n, s in model_trace.nodes.items() if s["type"] == "sample" and n != "images"]
    assert sites == ["u", "x"] and torch.equal(model_trace.nodes["x"]["value"], x[:, 0])  # u -> x, nothing else
    assert available_modes(1) == ("generation", "reconstruction-1", "reconstruction-2")
    with pytest.raises(ValueError, match="not available with model.program.levels = 1"):
        run_mode(system.model, system.guide, x[:, 0], "super-resolution")
    ppl_ssl.fit_and_evaluate(config, tmp_path / "run", progress=False)
    with pytest.raises(ConfigError, match="no transform y to condition on"):
        selfvae_modes_run(tmp_path / "run", ["conditional-generation"], device="cpu")
    result = selfvae_modes_run(tmp_path / "run", None, n=4, device="cpu", quality_images=20)
    assert [m["mode"] for m in result["modes"]] == list(available_modes(1))
