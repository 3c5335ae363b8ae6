"""Ex-post samplers fitted on a run's training codes: they fit, persist, reload, and describe the codes better
than the prior does."""
import pytest
import torch

import ppl_ssl
from ppl_ssl.errors import ConfigError
from ppl_ssl.pipeline import sample_run
from ppl_ssl.samplers import build_sampler
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("samplers") / "vae"
    ppl_ssl.fit_and_evaluate(tiny_config("vae", epochs=2), out, progress=False, make_figures=False)
    return out


@pytest.mark.parametrize("sampler", ["prior", "gmm", "maf", "two_stage"])
def test_sampler_draws_a_figure_and_keeps_its_fit(run_dir, sampler):
    first = sample_run(run_dir, sampler, n=9, device="cpu", seed=3)
    assert (run_dir / "figures" / f"samples_{sampler}.png").is_file()
    again = sample_run(run_dir, sampler, n=9, device="cpu", seed=3)  # reloads the saved fit instead of refitting
    assert again["test_code_log_density"] == pytest.approx(first["test_code_log_density"], rel=1e-5)
    if sampler != "prior":
        assert (run_dir / "samplers" / f"{sampler}.pt").is_file()


def test_fitted_samplers_describe_the_codes_better_than_the_prior(run_dir):
    scores = {name: sample_run(run_dir, name, n=4, device="cpu")["test_code_log_density"] for name in ("prior", "gmm")}
    assert scores["gmm"] > scores["prior"]


def test_gmm_sampler_recovers_a_two_cluster_density():
    torch.manual_seed(0)
    codes = torch.cat([torch.randn(2000, 2) * 0.3 + 3, torch.randn(2000, 2) * 0.3 - 3])
    sampler = build_sampler("gmm", None, 2).fit(codes)
    draws = sampler.sample(4000)
    assert (draws[:, 0] > 0).float().mean() == pytest.approx(0.5, abs=0.04)
    assert draws[draws[:, 0] > 0].std(0).max() < 0.4


def test_the_two_stage_sampler_learns_a_gaussian_and_its_log_prob_is_a_lower_bound():
    """A second VAE fitted to correlated Gaussian codes: its draws have the codes' mean and variances, and its
    importance-weighted log density lies below the exact one (a bound), within 0.6 nat."""
    from ppl_ssl.contracts import BuildContext
    from ppl_ssl.samplers import TwoStageOptions, TwoStageSampler

    torch.manual_seed(0)
    mean, tril = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([[1.0, 0, 0], [0.8, 0.6, 0], [0.0, 0.3, 0.4]])
    gaussian = torch.distributions.MultivariateNormal(mean, scale_tril=tril)
    options = TwoStageOptions(hidden=[32, 32], epochs=40, batch_size=128, lr=3e-3)
    sampler = TwoStageSampler(options, BuildContext(None, latent_dim=3)).fit(gaussian.sample((1500,)))
    draws = sampler.sample(20000)
    assert torch.allclose(draws.mean(0), mean, atol=0.1)
    assert torch.allclose(draws.var(0), (tril @ tril.T).diagonal(), atol=0.2, rtol=0.3)
    test = gaussian.sample((500,))
    gap = float(gaussian.log_prob(test).mean() - sampler.log_prob(test).mean())
    assert 0 < gap < 0.6


def test_unknown_sampler_is_a_one_line_config_error(run_dir):
    with pytest.raises(ConfigError, match="choose one of: gmm, maf, prior, two_stage"):
        sample_run(run_dir, "vae-sampler", n=4, device="cpu")


def test_the_maf_sampler_takes_codes_wider_than_its_hidden_layers():
    """A MADE needs hidden layers at least as wide as its input: Pythae's latent sweep reaches 256."""
    torch.manual_seed(0)
    sampler = build_sampler("maf", None, 128).fit(torch.randn(300, 128))
    assert sampler.sample(5).shape == (5, 128) and torch.isfinite(sampler.sample(5)).all()
