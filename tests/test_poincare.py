"""The Poincaré ball and its wrapped normal (ppl_ssl/poincare.py) against their definitions: the maps invert each
other and measure geodesic length, the density integrates to one over the ball's Riemannian volume, its draws have
its mean; and the Poincaré VAE preset."""
import math

import numpy as np
import pytest
import torch

from ppl_ssl.errors import ConfigError
from ppl_ssl.poincare import WrappedNormal, conformal_factor, distance, expmap, expmap0, logmap
from ppl_ssl.system import build_system
from tests.conftest import tiny_config

D = torch.float64


@pytest.mark.parametrize("c", [1.0, 0.3])
def test_the_maps_invert_each_other_and_measure_geodesic_length(c):
    torch.manual_seed(0)
    x = expmap0(0.5 * torch.randn(6, 3, dtype=D), c)
    u = 2 * torch.randn(6, 3, dtype=D) / conformal_factor(x, c)  # geodesics of length ~2: far from float's edge
    y = expmap(x, u, c)
    assert bool((c * y.pow(2).sum(-1) < 1).all())
    assert torch.allclose(logmap(x, y, c), u, atol=1e-9)
    # the geodesic from x along u has the length of u in the metric at x: λ_x ‖u‖
    assert torch.allclose(distance(x, y, c), conformal_factor(x, c)[:, 0] * u.norm(dim=-1), atol=1e-9)
    zero = torch.zeros_like(y)
    assert torch.allclose(distance(zero, y, c), 2 / math.sqrt(c) * torch.atanh(math.sqrt(c) * y.norm(dim=-1)))


def ball_integral(q: WrappedNormal, f, c: float, nodes: int = 600) -> float:
    """∫ f(z) q(z) dvol(z) over the 2-D ball, dvol = λ_z² dz: Gauss–Legendre in the geodesic radius ρ from the
    origin (r = tanh(√c ρ / 2)/√c, so the density's decay is resolved up to the boundary) and the trapezoid rule,
    exact for periodic integrands, in the angle."""
    rho_nodes, rho_weights = np.polynomial.legendre.leggauss(nodes)
    top = 14.0  # geodesic radius beyond which nothing is left of these densities (their draws are within 12 σ)
    rho = torch.as_tensor((rho_nodes + 1) / 2 * top, dtype=D)
    w_rho = torch.as_tensor(rho_weights * top / 2, dtype=D)
    theta = torch.arange(nodes, dtype=D) * 2 * math.pi / nodes
    r = torch.tanh(math.sqrt(c) * rho / 2) / math.sqrt(c)
    z = torch.stack([r[:, None] * torch.cos(theta), r[:, None] * torch.sin(theta)], -1)  # (ρ, θ, 2)
    # dvol = λ² r dr dθ with dr/dρ = 1/λ: λ r dρ dθ = sinh(√c ρ)/√c dρ dθ
    jacobian = torch.sinh(math.sqrt(c) * rho) / math.sqrt(c)
    density = torch.exp(q.log_prob(z)) * f(z)
    return float((density * (jacobian * w_rho)[:, None]).sum() * 2 * math.pi / nodes)


@pytest.mark.parametrize("c, loc, scale", [(1.0, (0.0, 0.0), 1.0), (1.0, (0.3, -0.4), 0.5), (0.5, (0.8, 0.3), 0.2)])
def test_the_wrapped_normal_integrates_to_one_and_its_draws_have_its_mean(c, loc, scale):
    q = WrappedNormal(torch.tensor(loc, dtype=D), torch.full((2,), scale, dtype=D), c)
    assert ball_integral(q, lambda z: 1.0, c) == pytest.approx(1.0, abs=1e-6)
    torch.manual_seed(1)
    draws = q.rsample((40000,))
    for k in range(2):
        mean = ball_integral(q, lambda z: z[..., k], c)
        assert float(draws[:, k].mean()) == pytest.approx(mean, abs=4 * float(draws[:, k].std()) / 200)


def test_at_its_centre_the_density_is_the_tangent_normal_and_draws_come_back_to_their_tangent_vectors():
    scale = torch.tensor([0.7, 0.7, 0.7], dtype=D)
    at_origin = WrappedNormal(torch.zeros(3, dtype=D), scale)
    assert float(at_origin.log_prob(torch.zeros(3, dtype=D))) == pytest.approx(-1.5 * math.log(2 * math.pi * 0.49))
    q = WrappedNormal(torch.tensor([0.2, -0.5, 0.1], dtype=D), scale)
    torch.manual_seed(3)
    z = q.rsample((5,))
    torch.manual_seed(3)
    tangent = scale * torch.randn(5, 3, dtype=D)  # the draw in the tangent space at the origin, before wrapping
    recovered = logmap(q.loc.expand(5, 3), z, 1.0) * conformal_factor(q.loc, 1.0)
    assert torch.allclose(recovered, tangent, atol=1e-9)


def test_the_poincare_vae_preset_keeps_its_codes_in_the_ball():
    from ppl_ssl.evaluation.ais import AISSettings, held_out_ais

    torch.manual_seed(0)
    system = build_system(tiny_config("poincare-vae", "augment.enabled=false", "model.prior.curvature=2.0"), (1, 8, 8))
    codes = system.encode(torch.rand(6, 1, 8, 8))
    assert bool((2.0 * codes.pow(2).sum(-1) < 1).all()) and system.guide.curvature == 2.0
    assert bool((2.0 * system.sample_prior(50)[:, 0].pow(2).sum(-1) < 1).all())
    with pytest.raises(ConfigError, match="set model.prior.kind = 'poincare_wrapped_normal'"):
        build_system(tiny_config("vae", "guide.kind='poincare_wrapped_normal'"), (1, 8, 8))
    with pytest.raises(ConfigError, match="set guide.kind = 'poincare_wrapped_normal'"):
        build_system(tiny_config("vae", "model.prior.kind='poincare_wrapped_normal'"), (1, 8, 8))
    with pytest.raises(ConfigError, match="a sphere or a hyperbolic ball"):
        held_out_ais(system, (255 * torch.rand(3, 1, 8, 8)).to(torch.uint8), AISSettings(steps=3))
