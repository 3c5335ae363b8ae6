"""Distributions the models need that Pyro does not ship."""
from __future__ import annotations

import math

import torch
from pyro.distributions import TorchDistribution, constraints


class ExchangeableGaussian(TorchDistribution):
    r"""The SSL model's prior over the J views of one image, with the content integrated out.

    ψ ~ N(0, γ² I_L) and z^j | ψ ~ N(ψ, σ² I_L) for j = 1..J give, with ψ integrated out analytically
    (SimVAE TMLR paper, Appendix A.4), a Gaussian over (z^1..z^J) that is exchangeable across views:
    per latent dimension, covariance σ² I_J + γ² 1 1ᵀ. With S = Σ_j z^j and Q = Σ_j (z^j)², per dimension

        log p = -½ [ (Q - S² / (J + σ²/γ²)) / σ² + J log(2π σ²) + log(1 + J γ²/σ²) ],

    O(J) to evaluate and to sample (z^j = γ ε₀ + σ ε_j). As γ → ∞ the quadratic form tends to the paper's
    "pinch" term Σ_j ‖z^j - z̄‖² / σ² (eq. 6), and the normaliser diverges — the paper's uniform p(ψ) is improper.

    Event shape (J, L); batch shape from `expand` (one set of views per image).
    """

    arg_constraints = {"sigma": constraints.positive, "gamma": constraints.positive}
    support = constraints.independent(constraints.real, 2)
    has_rsample = True

    def __init__(self, views: int, latent_dim: int, sigma: float | torch.Tensor, gamma: float | torch.Tensor,
                 batch_shape: torch.Size = torch.Size(), validate_args: bool | None = None):
        self.views, self.latent_dim = int(views), int(latent_dim)
        self.sigma = torch.as_tensor(sigma, dtype=torch.get_default_dtype())
        self.gamma = torch.as_tensor(gamma, dtype=torch.get_default_dtype(), device=self.sigma.device)
        super().__init__(torch.Size(batch_shape), torch.Size((self.views, self.latent_dim)), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return ExchangeableGaussian(self.views, self.latent_dim, self.sigma, self.gamma, torch.Size(batch_shape))

    @property
    def mean(self) -> torch.Tensor:
        return torch.zeros(self.batch_shape + self.event_shape, device=self.sigma.device)

    @property
    def variance(self) -> torch.Tensor:
        return (self.sigma**2 + self.gamma**2).expand(self.batch_shape + self.event_shape)

    def covariance_matrix_per_dim(self) -> torch.Tensor:
        """The J×J covariance shared by every latent dimension: σ² I + γ² 1 1ᵀ."""
        eye = torch.eye(self.views, device=self.sigma.device)
        return self.sigma**2 * eye + self.gamma**2 * torch.ones_like(eye)

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        shape = torch.Size(sample_shape) + self.batch_shape
        device = self.sigma.device
        content = self.gamma * torch.randn(shape + (1, self.latent_dim), device=device)
        return content + self.sigma * torch.randn(shape + self.event_shape, device=device)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        j = self.views
        var = self.sigma**2
        total = value.sum(-2)
        squares = value.pow(2).sum(-2)
        quadratic = (squares - total.pow(2) / (j + var / self.gamma**2)) / var
        log_norm = j * torch.log(2 * math.pi * var) + torch.log1p(j * self.gamma**2 / var)
        return -0.5 * (quadratic + log_norm).sum(-1)


class IsotropicNormal(TorchDistribution):
    """N(loc, σ² I) over the last `event_dims` dims of `loc` (an image: C, H, W), with one fixed variance σ².

    The same density as `Normal(loc, σ).to_event(event_dims)`, computed as a scaled squared distance,
    log p = −Σ(x − loc)² / 2σ² − (D/2) log 2πσ², with one fused pass over the pixels (`mse_loss`). Written by hand
    because torch's Normal broadcasts σ to every pixel and materialises log σ and σ² there: on a SimVAE batch
    (128 images × 10 views × 784 pixels) its log-density with backward takes about twice as long.
    """

    arg_constraints = {"loc": constraints.real}
    has_rsample = True

    def __init__(self, loc: torch.Tensor, variance: float, event_dims: int = 3, validate_args: bool | None = None):
        self.loc, self.scalar_variance, self.event_dims = loc, float(variance), event_dims
        batch_shape, event_shape = loc.shape[: loc.dim() - event_dims], loc.shape[loc.dim() - event_dims :]
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.independent(constraints.real, self.event_dims)

    def expand(self, batch_shape, _instance=None):
        loc = self.loc.expand(torch.Size(batch_shape) + self.event_shape)
        return IsotropicNormal(loc, self.scalar_variance, self.event_dims)

    @property
    def mean(self) -> torch.Tensor:
        return self.loc

    @property
    def variance(self) -> torch.Tensor:
        return torch.full_like(self.loc, self.scalar_variance)

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        return self.loc.expand(shape) + math.sqrt(self.scalar_variance) * torch.randn(shape, dtype=self.loc.dtype, device=self.loc.device)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        loc, value = torch.broadcast_tensors(self.loc, value)
        squares = torch.nn.functional.mse_loss(loc, value, reduction="none")
        dims = tuple(range(-self.event_dims, 0))
        pixels = math.prod(self.event_shape)
        return squares.sum(dims) * (-0.5 / self.scalar_variance) - 0.5 * pixels * math.log(2 * math.pi * self.scalar_variance)


def pinch_term(z: torch.Tensor, sigma2: float) -> torch.Tensor:
    """The paper's SimVAE prior term Σ_j ‖z^j - z̄‖² / (2σ²) for views z of shape (..., J, L)."""
    return (z - z.mean(-2, keepdim=True)).pow(2).sum((-2, -1)) / (2 * sigma2)


class GroupedViews(TorchDistribution):
    r"""J views of one image spread around a shared content with any prior: the SSL prior for non-Gaussian content.

    The content c of a group is the mean of its views, c = z̄ = (1/J) Σ_j z^j, with density p_c (a mixture, a
    VampPrior, a flow, ...); the views' deviations from it are Gaussian, z^j − z̄ ~ N(0, σ²) restricted to the
    (J−1)·L-dimensional subspace where they sum to zero. By an orthonormal (Helmert) change of variables

        log p(z^1..z^J) = log p_c(z̄) − Σ_j ‖z^j − z̄‖² / 2σ² − (J−1)L/2 · log(2πσ²) − L/2 · log J.

    This is exactly the paper's model ψ ~ p(ψ), z^j | ψ ~ N(ψ, σ²I) when p_c = p(ψ) ⊛ N(0, σ²/J): with a
    Gaussian p_c = N(0, (γ² + σ²/J) I) it equals `ExchangeableGaussian`. Defining the learned prior on z̄ rather
    than on ψ keeps log p exact (no integral over ψ) for every content density. With J = 1 it is p_c itself.

    `content` is a distribution over R^L with event shape (L,) and empty batch shape. Event shape (J, L).
    """

    arg_constraints = {"sigma": constraints.positive}
    support = constraints.independent(constraints.real, 2)

    def __init__(self, content: TorchDistribution, views: int, sigma: float | torch.Tensor,
                 batch_shape: torch.Size = torch.Size(), validate_args: bool | None = None):
        if content.batch_shape != torch.Size() or len(content.event_shape) != 1:
            raise ValueError(f"content must have event shape (L,) and no batch shape, got {content.batch_shape} {content.event_shape}")
        self.content, self.views = content, int(views)
        self.latent_dim = content.event_shape[0]
        self.sigma = torch.as_tensor(sigma, dtype=torch.get_default_dtype())
        super().__init__(torch.Size(batch_shape), torch.Size((self.views, self.latent_dim)), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return GroupedViews(self.content, self.views, self.sigma, torch.Size(batch_shape))

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        shape = torch.Size(sample_shape) + self.batch_shape
        with torch.no_grad():
            centre = self.content.sample(shape).unsqueeze(-2)                     # (..., 1, L)
            noise = torch.randn(shape + self.event_shape, device=centre.device)
            return centre + self.sigma * (noise - noise.mean(-2, keepdim=True))  # deviations sum to zero

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        j, dim = self.views, self.latent_dim
        centre = value.mean(-2)
        log_p = self.content.log_prob(centre)
        if j > 1:
            var = self.sigma**2
            spread = (value - centre.unsqueeze(-2)).pow(2).sum((-2, -1))
            log_p = log_p - spread / (2 * var) - 0.5 * (j - 1) * dim * torch.log(2 * math.pi * var) - 0.5 * dim * math.log(j)
        return log_p


def quantise(x: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1] and round to the nearest of the 256 values k/255 (8-bit images)."""
    return torch.round(x.clamp(0, 1) * 255) / 255


def _log_one_minus_exp(log_t: torch.Tensor) -> torch.Tensor:
    """log(1 − e^{−t}) from log t, for every t > 0 (Mächler's log1mexp, extended): below t = 1e-4 it is
    log t − t/2 (error < t²/24), finite even where t itself underflows (a bin far narrower than the scale). Each
    branch only sees the inputs it is chosen for: an unchosen branch's infinite gradient would become 0 · ∞ = NaN."""
    t = log_t.exp()
    tiny, small = log_t < math.log(1e-4), t < math.log(2)
    t_mid = torch.where(small & ~tiny, t, math.log(2))
    t_large = torch.where(small, math.log(2), t)
    return torch.where(tiny, log_t - t / 2,
                       torch.where(small, torch.log(-torch.expm1(-t_mid)), torch.log1p(-torch.exp(-t_large))))


class DiscretizedLogisticMixture(TorchDistribution):
    r"""PixelCNN++'s discretised logistic mixture over 8-bit images with values k/255 in [0, 1].

    Per pixel a mixture of K components (weights shared by the channels); per component and channel a logistic
    with mean μ and scale s = exp(log s), log s clamped at `min_log_scale`, discretised to bins of width 1/255
    centred on the 256 values, the edge bins open to ±∞. With 3 channels the means are coupled as in PixelCNN++:
    μ_G += c₀·x_R and μ_B += c₁·x_R + c₂·x_G (x: the observed or already sampled values), so the joint over a
    pixel's channels is p(R) p(G | R) p(B | R, G) within each component.

    Shapes: logits (..., K, H, W); loc, log_scale (..., K, C, H, W); coeffs (..., K, 3, H, W) when C = 3.
    Event shape (C, H, W). Each bin's mass σ(a) − σ(b), a − b = (1/255)/s, is computed in log space as
    log σ(a) + log σ(−b) + log(1 − e^{−(a−b)}): exact, and finite however narrow the bin or far the mean.
    """

    arg_constraints = {"logits": constraints.real, "loc": constraints.real, "log_scale": constraints.real}
    support = constraints.independent(constraints.unit_interval, 3)
    BINS = 255  # 8-bit data: 256 values, 255 bins of width 1/255 between them

    def __init__(self, logits: torch.Tensor, loc: torch.Tensor, log_scale: torch.Tensor, coeffs: torch.Tensor | None = None,
                 min_log_scale: float = -7.0, validate_args: bool | None = None):
        channels = loc.shape[-3]
        if channels == 3 and coeffs is None:
            raise ValueError("colour images need the channel coupling coefficients `coeffs` (..., K, 3, H, W)")
        self.logits, self.loc, self.coeffs = logits, loc, coeffs if channels == 3 else None
        self.log_scale = log_scale.clamp(min=min_log_scale)
        batch_shape = loc.shape[:-4]
        super().__init__(batch_shape, loc.shape[-3:], validate_args=validate_args)

    def _coupled_loc(self, x: torch.Tensor) -> torch.Tensor:
        """Means given the (observed or sampled) channels that precede each channel: (..., K, C, H, W)."""
        if self.coeffs is None:
            return self.loc
        r, g = x[..., None, 0, :, :], x[..., None, 1, :, :]
        c = torch.tanh(self.coeffs)  # PixelCNN++ keeps the coupling in (−1, 1)
        channels = [self.loc[..., 0, :, :], self.loc[..., 1, :, :] + c[..., 0, :, :] * r,
                    self.loc[..., 2, :, :] + c[..., 1, :, :] * r + c[..., 2, :, :] * g]
        return torch.stack(torch.broadcast_tensors(*channels), dim=-3)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        x = x.unsqueeze(-4)                                                      # (..., 1, C, H, W) against K
        loc = self._coupled_loc(x.squeeze(-4))
        inverse_scale = torch.exp(-self.log_scale)
        half_bin = 0.5 / self.BINS
        upper = (x + half_bin - loc) * inverse_scale                             # a: the bin's upper edge
        lower = (x - half_bin - loc) * inverse_scale                             # b: its lower edge
        log_cdf_upper = torch.nn.functional.logsigmoid(upper)                   # bin [0, ...): mass σ(a)
        log_survival_lower = torch.nn.functional.logsigmoid(-lower)             # bin [..., 1]: mass 1 − σ(b)
        middle = log_cdf_upper + log_survival_lower + _log_one_minus_exp(-self.log_scale - math.log(self.BINS))
        log_bin = torch.where(x < half_bin, log_cdf_upper, torch.where(x > 1 - half_bin, log_survival_lower, middle))
        log_component = log_bin.sum(-3) + torch.log_softmax(self.logits, dim=-3)  # channels of one component, (..., K, H, W)
        return torch.logsumexp(log_component, dim=-3).sum((-2, -1))

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        with torch.no_grad():
            shape = torch.Size(sample_shape) + self.batch_shape + self.event_shape
            probs = torch.softmax(self.logits, dim=-3).movedim(-3, -1)          # (..., H, W, K)
            component = torch.distributions.Categorical(probs=probs).sample(sample_shape)  # (S..., ..., H, W)
            pick = lambda t: torch.gather(  # noqa: E731  the chosen component's parameters, (S..., ..., C', H, W)
                t.expand(torch.Size(sample_shape) + t.shape), -4,
                component[..., None, None, :, :].expand(*component.shape[:-2], 1, t.shape[-3], *component.shape[-2:])).squeeze(-4)
            loc, log_scale = pick(self.loc), pick(self.log_scale)
            coeffs = torch.tanh(pick(self.coeffs)) if self.coeffs is not None else None
            u = torch.rand(shape, device=loc.device).clamp(1e-5, 1 - 1e-5)
            noise = torch.exp(log_scale) * (torch.log(u) - torch.log1p(-u))   # logistic(0, s)
            channels = [quantise(loc[..., 0, :, :] + noise[..., 0, :, :])]
            if coeffs is not None:
                r = channels[0]
                channels.append(quantise(loc[..., 1, :, :] + coeffs[..., 0, :, :] * r + noise[..., 1, :, :]))
                channels.append(quantise(loc[..., 2, :, :] + coeffs[..., 1, :, :] * r + coeffs[..., 2, :, :] * channels[1]
                                         + noise[..., 2, :, :]))
            else:
                channels = [quantise(loc[..., c, :, :] + noise[..., c, :, :]) for c in range(loc.shape[-3])]
            return torch.stack(channels, dim=-3)

    @property
    def mean(self) -> torch.Tensor:
        """Mixture mean of the (clamped) component means, channels coupled through the preceding channels' means —
        the image shown for reconstructions (an approximation: the exact mean of a discretised clamped logistic differs)."""
        weights = torch.softmax(self.logits, dim=-3).unsqueeze(-3)              # (..., K, 1, H, W)
        if self.coeffs is None:
            return (weights * self.loc.clamp(0, 1)).sum(-4)
        c = torch.tanh(self.coeffs)
        r = (weights[..., 0, :, :] * self.loc[..., 0, :, :]).sum(-3).clamp(0, 1)
        g = (weights[..., 0, :, :] * (self.loc[..., 1, :, :] + c[..., 0, :, :] * r.unsqueeze(-3))).sum(-3).clamp(0, 1)
        b = (weights[..., 0, :, :] * (self.loc[..., 2, :, :] + c[..., 1, :, :] * r.unsqueeze(-3)
                                      + c[..., 2, :, :] * g.unsqueeze(-3))).sum(-3).clamp(0, 1)
        return torch.stack([r, g, b], dim=-3)

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        grow = lambda t: None if t is None else t.expand(batch_shape + t.shape[len(self.batch_shape):])  # noqa: E731
        return DiscretizedLogisticMixture(grow(self.logits), grow(self.loc), grow(self.log_scale), grow(self.coeffs),
                                          min_log_scale=-math.inf)
