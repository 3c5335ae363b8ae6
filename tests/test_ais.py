"""Annealed importance sampling and BDMC against models whose log p(x) is exact: probabilistic PCA (Gaussian
posterior) and a 2-D latent with a two-mode posterior (a mixture prior under a linear Gaussian likelihood)."""
import json
import math

import pyro
import pyro.distributions as dist
import pytest
import torch

from ppl_ssl.errors import ConfigError
from ppl_ssl.evaluation.ais import AISSettings, ais_log_likelihood, annealing_schedule, bdmc, simulate
from tests.test_likelihood import D, L, SIGMA, gaussian_guide, ppca_model


@pytest.fixture(scope="module")
def ppca():
    gen = torch.Generator().manual_seed(0)
    w, b = torch.randn(D, L, generator=gen), torch.randn(D, generator=gen)
    x = torch.randn(100, L, generator=gen) @ w.T + b + SIGMA * torch.randn(100, D, generator=gen)
    return w, b, x


def ppca_log_px(w, b, x):
    return dist.MultivariateNormal(b, w @ w.T + SIGMA**2 * torch.eye(D)).log_prob(x)


def test_the_schedule_runs_from_zero_to_one_and_rises():
    for kind in ("sigmoid", "linear"):
        betas = annealing_schedule(50, kind)
        assert betas[0] == 0 and betas[-1] == 1 and len(betas) == 51 and bool((betas.diff() > 0).all())


def test_from_the_exact_posterior_every_weight_is_log_p_x():
    """f_t ∝ q^(1−β) p(x, z)^β = q(z | x) p(x)^β when q is the posterior: each log-weight is Σ Δβ log p(x) = log p(x),
    whatever the chains do."""
    gen = torch.Generator().manual_seed(1)
    w, b = torch.randn(D, L, generator=gen), torch.randn(D, generator=gen)
    x = torch.randn(20, D, generator=gen) + b
    pyro.set_rng_seed(0)
    result = ais_log_likelihood(ppca_model(w, b), gaussian_guide(w, b), x, AISSettings(steps=8, chains=3, pilot_steps=4))
    assert (result["log_px"] - ppca_log_px(w, b, x)).abs().max() < 1e-3


def test_ais_converges_to_the_exact_ppca_log_likelihood_as_steps_grow(ppca):
    w, b, x = ppca
    exact = ppca_log_px(w, b, x)
    model, guide = ppca_model(w, b), gaussian_guide(w, b, 0.4, 1.5)  # a mediocre guide: IW with K=1 is 1.6 nats off
    errors = {}
    for steps in (10, 100, 600):
        pyro.set_rng_seed(1)
        result = ais_log_likelihood(model, guide, x, AISSettings(steps=steps))
        errors[steps] = float((exact - result["log_px"]).mean())
        assert 0.3 < float(result["acceptance"].mean()) < 1.0
    assert errors[10] > errors[100] > abs(errors[600])
    assert abs(errors[600]) < 0.05, errors


def two_mode_model(x):
    """z ~ ½ N((−1.5, 0), 0.6² I) + ½ N((1.5, 0), 0.6² I);  x | z ~ N(0.3 z₁ + z₂, 0.3²): p(z | x) has two modes."""
    mixture = dist.MixtureSameFamily(dist.Categorical(torch.ones(2)),
                                     dist.Normal(torch.tensor([[-1.5, 0.0], [1.5, 0.0]]), 0.6).to_event(1))
    with pyro.plate("data", len(x)):
        z = pyro.sample("z", mixture)
        pyro.sample("x", dist.Normal(z @ torch.tensor([0.3, 1.0]), 0.3), obs=x)


def two_mode_log_px(x):
    a = torch.tensor([0.3, 1.0])
    means = torch.tensor([[-1.5, 0.0], [1.5, 0.0]]) @ a
    variance = 0.36 * float(a @ a) + 0.09
    return (dist.Normal(means, math.sqrt(variance)).log_prob(x[:, None]) + math.log(0.5)).logsumexp(-1)


def test_ais_from_the_prior_finds_both_modes_of_a_two_mode_posterior():
    x = torch.linspace(-2.0, 2.0, 60)
    exact = two_mode_log_px(x)
    errors = {}
    for steps in (5, 400):
        pyro.set_rng_seed(2)
        result = ais_log_likelihood(two_mode_model, None, x, AISSettings(steps=steps, chains=8, start="prior"))
        errors[steps] = float((exact - result["log_px"]).mean())
    assert errors[5] > abs(errors[400])
    assert abs(errors[400]) < 0.05, errors


def test_bdmc_sandwiches_the_exact_log_likelihood_of_simulated_data_and_tightens_with_steps(ppca):
    w, b, x = ppca
    model, guide = ppca_model(w, b), gaussian_guide(w, b, 0.4, 1.5)
    gaps = {}
    for steps in (10, 200):
        pyro.set_rng_seed(3)
        simulated, _ = simulate(model, x, 80)
        exact = float(ppca_log_px(w, b, simulated).mean())
        pyro.set_rng_seed(3)  # bdmc draws the same data
        result = bdmc(model, guide, x, 80, AISSettings(steps=steps))
        lower, upper = float(result["lower"].mean()), float(result["upper"].mean())
        assert lower < exact + 0.05 and upper > exact - 0.05, (steps, lower, exact, upper)
        gaps[steps] = upper - lower
    assert gaps[10] > 2 * gaps[200] > 0


def test_simulate_returns_data_with_their_exact_latents(ppca):
    w, b, x = ppca
    simulated, latents = simulate(ppca_model(w, b), x, 5000)
    assert simulated.shape == (5000, D) and set(latents) == {"z"}
    residual = simulated - latents["z"] @ w.T - b  # x − (W z + b) is the likelihood's noise, N(0, σ²)
    assert abs(float(residual.std()) - SIGMA) < 0.02


@pytest.mark.parametrize("bad, message", [({"start": "posterior"}, "start 'posterior'"), ({"steps": 0}, "steps must"),
                                          ({"target_acceptance": 1.0}, "acceptance"), ({"schedule": "cosine"}, "schedule")])
def test_bad_settings_name_themselves(bad, message):
    with pytest.raises(ConfigError, match=message):
        AISSettings(**bad)


@pytest.mark.parametrize("preset, extra", [("simvae", ()), ("vae-iaf", ()), ("vamp", ()), ("selfvae-downscale", ()),
                                           ("beta-tc-vae", ()), ("infovae", ())])
def test_ais_runs_on_the_programs_and_beats_the_elbo(preset, extra):
    """The log joint comes from each program: SimVAE's collapsed prior, a flow guide (inverted for log q), VAMP's
    prior, selfVAE's chain of observed images, and programs with objective terms (left out of the density). Twenty
    transitions already lie above the ELBO."""
    import ppl_ssl
    from ppl_ssl.data import as_float
    from ppl_ssl.evaluation import importance_log_weights
    from tests.conftest import tiny_config

    from ppl_ssl.system import build_system

    system = build_system(tiny_config(preset, *extra), (1, 8, 8))
    images = (torch.rand(12, 1, 8, 8) * 255).to(torch.uint8)
    views = as_float(images).unsqueeze(1)
    pyro.set_rng_seed(4)
    result = ais_log_likelihood(system.model, system.guide, views, AISSettings(steps=20, chains=2))
    elbo = importance_log_weights(system.model, system.guide, views, num_samples=50).mean(1)
    assert result["log_px"].shape == (12,) and bool(torch.isfinite(result["log_px"]).all())
    assert float(result["log_px"].mean()) > float(elbo.mean())


def test_evaluate_nll_ais_writes_the_estimates_and_bounds(tmp_path):
    import ppl_ssl
    from ppl_ssl.commands import evaluate
    from tests.conftest import tiny_config

    ppl_ssl.fit_and_evaluate(tiny_config("vae", epochs=1), tmp_path / "run", progress=False, make_figures=False)
    result = evaluate.main([str(tmp_path / "run"), "--nll", "ais", "--ais-steps", "10", "--nll-images", "16",
                            "--bdmc-images", "8", "--device", "cpu", "--quiet"])
    stored = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for key in ("ais_test_nll", "ais_test_bpd", "iw_test_nll_same_evaluations", "ais_acceptance", "bdmc_gap"):
        assert stored[key] == result[key] and math.isfinite(result[key])
    assert result["ais_images"] == 16 and result["bdmc_images"] == 8
    assert result["bdmc_upper"] > result["bdmc_lower"]
    assert "knn_accuracy" in stored  # the stored metrics stay


def test_a_model_without_a_normalised_prior_is_refused_in_one_line():
    from ppl_ssl.data import as_float
    from ppl_ssl.system import build_system
    from tests.conftest import tiny_config

    system = build_system(tiny_config("ae"), (1, 8, 8))
    views = as_float((torch.rand(4, 1, 8, 8) * 255).to(torch.uint8)).unsqueeze(1)
    with pytest.raises(ConfigError, match=r"cannot draw its start \(ImproperUniform does not support sampling\): a model") as error:
        ais_log_likelihood(system.model, system.guide, views, AISSettings(steps=2, start="prior"))
    assert "\n" not in str(error.value)


def test_a_guide_without_an_inverse_is_refused_and_the_prior_start_works():
    from ppl_ssl.data import as_float
    from ppl_ssl.system import build_system
    from tests.conftest import tiny_config

    system = build_system(tiny_config("vae-lin-nf"), (1, 8, 8))
    views = as_float((torch.rand(4, 1, 8, 8) * 255).to(torch.uint8)).unsqueeze(1)
    with pytest.raises(ConfigError, match="known at its own draws only .*; start from the prior"):
        ais_log_likelihood(system.model, system.guide, views, AISSettings(steps=2))
    result = ais_log_likelihood(system.model, system.guide, views, AISSettings(steps=4, start="prior"))
    assert bool(torch.isfinite(result["log_px"]).all())


def test_bdmc_refuses_a_model_with_several_observed_sites():
    from ppl_ssl.data import as_float
    from ppl_ssl.system import build_system
    from tests.conftest import tiny_config

    system = build_system(tiny_config("selfvae-downscale"), (1, 8, 8))
    views = as_float((torch.rand(4, 1, 8, 8) * 255).to(torch.uint8)).unsqueeze(1)
    with pytest.raises(ConfigError, match=r"observes 2 sites \(y1, x\).*--bdmc-images 0"):
        bdmc(system.model, system.guide, views, 4, AISSettings(steps=2))


def test_iw_curve_averages_the_bounds_of_disjoint_groups():
    from ppl_ssl.evaluation.tightness import iw_curve

    log_w = torch.randn(3, 12, dtype=torch.float64)
    curve = iw_curve(log_w, (1, 4, 12))
    assert torch.allclose(curve[1], log_w.mean(-1))  # K = 1: the ELBO's Monte Carlo estimate
    groups = torch.stack([log_w[:, i : i + 4].logsumexp(-1) - math.log(4) for i in (0, 4, 8)])
    assert torch.allclose(curve[4], groups.mean(0))
    assert torch.allclose(curve[12], log_w.logsumexp(-1) - math.log(12))


def test_the_tightness_report_holds_every_estimate_and_its_compute():
    from ppl_ssl.evaluation.tightness import TightnessProtocol, estimate_tightness
    from ppl_ssl.system import build_system
    from tests.conftest import tiny_config

    system = build_system(tiny_config("vae"), (1, 8, 8))
    images = (torch.rand(12, 1, 8, 8) * 255).to(torch.uint8)
    protocol = TightnessProtocol(images=10, iw_samples=(1, 4), ais_steps=(3, 6), long_steps=12, long_images=4, bdmc_images=4)
    result = estimate_tightness(system, images, protocol, seed=0)
    summary, rows = result["summary"], result["curve"]
    assert [(r["estimator"], r["size"]) for r in rows] == [("IW", 1), ("IW", 4), ("AIS", 3), ("AIS", 6), ("AIS", 12)]
    assert summary["likelihood_images"] == 10 and summary["likelihood_long_images"] == 4
    assert summary["iw_nll"] <= summary["iw_nll_elbo"]  # on the same draws: log-mean-exp ≥ mean in every group
    assert summary["bdmc_upper"] - summary["bdmc_lower"] == pytest.approx(summary["bdmc_gap"])
    assert rows[-1]["images"] == 4 and rows[-1]["evaluations"] > rows[-2]["evaluations"]


def _generative_presets() -> list[str]:
    from ppl_ssl.config import build_config, preset_names
    from ppl_ssl.reproduction.budgets import trains_by_its_own_loss

    return [name for name in preset_names() if not trains_by_its_own_loss(build_config(name).method.kind)]


@pytest.mark.parametrize("preset", _generative_presets())
def test_every_generative_preset_gets_an_estimate_or_a_one_line_reason(preset):
    """`evaluate --nll ais` (with BDMC) on any preset, from the guide and from the prior: finite estimates, or a
    ConfigError of one line saying why and what to do (a point-mass guide, an improper prior, a guide known at its
    own draws only, codes on a sphere or a ball, a program without a likelihood, several observed sites)."""
    from ppl_ssl.evaluation.ais import held_out_ais
    from ppl_ssl.system import build_system
    from tests.conftest import tiny_config

    system = build_system(tiny_config(preset), (1, 16, 16))
    images = (torch.rand(3, 1, 16, 16) * 255).to(torch.uint8)
    for start in ("guide", "prior"):
        pyro.set_rng_seed(0)
        try:
            metrics = held_out_ais(system, images, AISSettings(steps=3, start=start), bdmc_images=2)
        except ConfigError as error:
            assert "\n" not in str(error)
            assert any(fix in str(error) for fix in ("--ais-start prior", "--nll iw", "--bdmc-images 0", "leave out --nll",
                                                     "no likelihood to estimate")), str(error)
        else:
            assert all(math.isfinite(metrics[key]) for key in ("ais_test_nll", "bdmc_lower", "bdmc_upper"))
