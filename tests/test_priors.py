"""Every prior is a normalised density that its own samples follow; flows are invertible with the right log-det."""
import math

import pytest
import torch

from ppl_ssl.distributions import ExchangeableGaussian, GroupedViews
from ppl_ssl.flows import LAYERS, FlowStack
from ppl_ssl.nets import build_nets
from ppl_ssl.contracts import BuildContext
from ppl_ssl.registry import PRIORS
from tests.conftest import tiny_config


def make_prior(kind: str, latent_dim: int):
    torch.manual_seed(0)
    config = tiny_config("vae", f"model.prior.kind='{kind}'", f"model.latent_dim={latent_dim}")
    encoder, _ = build_nets(config.nets, (1, 4, 4), latent_dim)
    return PRIORS.build(config.model.prior.kind, config.model.prior.options,
                        BuildContext(config, (1, 4, 4), latent_dim, encoder=encoder))


def grid(lim: float, n: int, dims: int) -> tuple[torch.Tensor, float]:
    axis = torch.linspace(-lim, lim, n, dtype=torch.float64)
    points = torch.stack(torch.meshgrid(*[axis] * dims, indexing="ij"), -1).reshape(-1, dims)
    return points, float(axis[1] - axis[0]) ** dims


# densities of a manifold's own volume (the sphere's, the Poincaré ball's), normalised over it in
# test_hyperspherical.py and test_poincare.py, not over R²
MANIFOLD_PRIORS = ("hyperspherical_uniform", "poincare_wrapped_normal")


@pytest.mark.parametrize("kind", [k for k in PRIORS.names() if k not in MANIFOLD_PRIORS])
def test_prior_is_normalised_in_two_dimensions_and_sampled_from_its_density(kind):
    prior = make_prior(kind, 2)
    points, cell = grid(9.0, 361, 2)
    with torch.no_grad():
        samples = prior(1).sample((20000,))[:, 0]  # float32, as in training (Pyro's MAF sampler is float32 only)
        density = prior.double()(1).log_prob(points.unsqueeze(-2)).exp()
        mass = float(density.sum() * cell)
        mean = (density[:, None] * points).sum(0) * cell
        second = (density[:, None] * points**2).sum(0) * cell
    assert mass == pytest.approx(1.0, abs=5e-3)
    assert samples.shape == (20000, 2) and torch.isfinite(samples).all()
    sd = (second - mean**2).sqrt()
    assert torch.allclose(samples.mean(0).double(), mean, atol=float(4 * sd.max() / math.sqrt(20000)) + 1e-3)
    assert torch.allclose(samples.pow(2).mean(0).double(), second, rtol=0.06)


@pytest.mark.parametrize("kind", ["standard_normal", "ssl_group", "mog"])
def test_group_prior_of_two_views_is_normalised(kind):
    prior = make_prior(kind, 1).double()
    points, cell = grid(9.0, 301, 2)  # (z^1, z^2) with L = 1
    with torch.no_grad():
        mass = float(prior(2).log_prob(points.reshape(-1, 2, 1)).exp().sum() * cell)
    assert mass == pytest.approx(1.0, abs=5e-3)


def test_grouped_views_with_gaussian_content_is_the_ssl_group_prior():
    sigma, gamma, views, dim = 0.4, 1.3, 4, 3
    content = torch.distributions.Independent(torch.distributions.Normal(torch.zeros(dim), math.sqrt(gamma**2 + sigma**2 / views)), 1)
    grouped, exchangeable = GroupedViews(content, views, sigma), ExchangeableGaussian(views, dim, sigma, gamma)
    z = torch.randn(50, views, dim) * 2
    assert torch.allclose(grouped.log_prob(z), exchangeable.log_prob(z), atol=1e-4)
    samples = grouped.sample((40000,))[:, :, 0]  # one latent dimension: the J×J covariance σ²I + γ²11ᵀ
    assert torch.allclose(torch.cov(samples.T), exchangeable.covariance_matrix_per_dim(), atol=0.05)


def test_grouped_views_broadcast_over_particles_and_data():
    prior = make_prior("mog", 3)
    z = torch.randn(5, 7, 2, 3)  # (particles, images, J, L)
    assert prior(2).expand((5, 7)).log_prob(z).shape == (5, 7)


def _log_det_by_autograd(fn, x: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.linalg.slogdet(torch.autograd.functional.jacobian(fn, xi))[1] for xi in x])


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("inverse", [False, True])
def test_flow_log_det_matches_the_jacobian_and_inverts(kind, inverse):
    if inverse and kind in ("planar", "radial"):
        pytest.skip("planar and radial flows have no closed-form inverse")
    torch.manual_seed(1)
    flow = FlowStack([kind, kind], dim=3, hidden=[16], inverse=inverse)  # float32: Pyro's autoregressive inverse is float32-only
    for p in flow.parameters():
        p.data.normal_(0, 0.3)  # away from the identity, so the test means something
    x = torch.randn(4, 3)
    y, log_det = x, torch.zeros(4)
    for t in flow.transforms():
        y_next = t(y)
        log_det = log_det + t.log_abs_det_jacobian(y, y_next)
        y = y_next
    assert torch.allclose(log_det, _log_det_by_autograd(flow, x), atol=1e-4)
    if kind not in ("planar", "radial"):
        back = y.clone()  # a new tensor: no cached inverse
        for t in reversed(flow.transforms()):
            back = t.inv(back.clone())
        assert torch.allclose(back, x, atol=1e-4)
