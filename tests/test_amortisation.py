"""The amortisation gap on probabilistic PCA, where the exact posterior is Gaussian and every gap is known."""
import math

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from ppl_ssl.evaluation.amortisation import amortisation_gaps


class PPCA(nn.Module):
    """x = W z + μ + ε, z ~ N(0, I_L), ε ~ N(0, σ² I_D); W with orthogonal columns, so p(z | x) is a diagonal Gaussian."""

    def __init__(self, dim=6, latent=2, sigma=0.5):
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(dim, latent, generator=torch.Generator().manual_seed(0)))
        self.W = nn.Parameter(q * torch.tensor([2.0, 0.7]))
        self.mu = nn.Parameter(torch.linspace(-1, 1, dim))
        self.sigma, self.latent = sigma, latent

    def forward(self, views):  # views (N, 1, D): one view per datum, as the library's programs take them
        with pyro.plate("images", len(views)):
            z = pyro.sample("z", dist.Normal(views.new_zeros(1, self.latent), 1.0).to_event(2))
            pyro.sample("x", dist.Normal(z @ self.W.T + self.mu, self.sigma).to_event(2), obs=views)

    def exact(self, x):
        """log p(x) and the posterior's mean and variances, in closed form."""
        W, s2 = self.W.detach(), self.sigma ** 2
        log_px = dist.MultivariateNormal(self.mu.detach(), W @ W.T + s2 * torch.eye(len(W))).log_prob(x)
        precision = torch.diagonal(W.T @ W) / s2 + 1.0
        mean = ((x - self.mu.detach()) @ W / s2) / precision
        return log_px, mean, 1.0 / precision


def prior_as_guide(views):
    """A deliberately poor 'encoder': q(z | x) = p(z), whatever x is."""
    with pyro.plate("images", len(views)):
        pyro.sample("z", dist.Normal(views.new_zeros(len(views), 1, 2), 1.0).to_event(2))


def test_per_image_optimisation_closes_the_amortisation_gap_and_leaves_no_approximation_gap():
    torch.manual_seed(0)
    model = PPCA()
    with torch.no_grad():
        x = (torch.randn(40, 2) @ model.W.T + model.mu + 0.5 * torch.randn(40, 6)).unsqueeze(1)
    start = (torch.zeros(40, 1, 2), torch.ones(40, 1, 2))
    result = amortisation_gaps(model, prior_as_guide, start, x, steps=400, lr=0.05, particles=16, num_samples=2000)
    log_px, mean, var = model.exact(x[:, 0])
    # the exact posterior is a diagonal Gaussian: the optimised q reaches it, so ELBO(optimised) = log p(x)
    assert abs(result["approximation_gap_mean"]) < 0.02
    assert torch.allclose(result["log_likelihood"].float(), log_px, atol=0.05)
    assert torch.allclose(result["elbo_optimised"].float(), log_px, atol=0.1)
    # the amortisation gap of q = p(z) is KL(p(z) ‖ p(z | x)), in closed form
    kl = 0.5 * ((1 / var).sum(-1) + (mean ** 2 / var).sum(-1) - 2 + torch.log(var).sum(-1))
    assert math.isclose(result["amortisation_gap_mean"], float(kl.mean()), rel_tol=0.03)
    assert result["amortisation_gap_se"] > 0 and all(p.requires_grad for p in model.parameters())  # model untouched


def test_evaluate_reports_the_gaps_of_a_fitted_run(tmp_path):
    import json

    import ppl_ssl
    from ppl_ssl.commands import evaluate
    from tests.conftest import tiny_config

    ppl_ssl.fit_and_evaluate(tiny_config("vae", epochs=2), tmp_path / "run", progress=False, make_figures=False)
    summary = evaluate.main([str(tmp_path / "run"), "--amortisation-gap", "--gap-images", "6", "--gap-steps", "60",
                             "--gap-samples", "100", "--device", "cpu"])
    per_image = json.loads((tmp_path / "run" / "amortisation_gap.json").read_text())["per_image"]
    assert len(per_image["elbo_amortised"]) == 6
    # a fitted encoder is beaten by per-image optimisation, and no ELBO exceeds log p(x) beyond Monte Carlo noise
    assert summary["amortisation_gap_mean"] > 0
    assert summary["approximation_gap_mean"] > -0.5
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["amortisation_gap_mean"] == summary["amortisation_gap_mean"]
