"""Sample-based estimators that regularised VAEs add to the ELBO as factors.

- `mmd`: the squared maximum mean discrepancy between two samples under a kernel, the Gaussian (`rbf_kernel`) or
  the inverse multiquadratic (`imq_kernel`): InfoVAE's and WAE's divergence between the aggregate posterior q(z)
  and the prior p(z) (Zhao et al. 2019; Tolstikhin et al. 2018).
- `decomposed_kl`: the ELBO's KL term as mutual information, total correlation and dimension-wise KL, with
  q(z) by minibatch weighted sampling (β-TC-VAE, Chen et al. 2018).
- `MutualInformationCritic`: the Donsker–Varadhan lower bound on I(x; z) with a learned critic T(x, z)
  (MINE, Belghazi et al. 2018), as InfoMax-VAE maximises it (Rezaabad & Vishwanath 2020): samples of the joint are
  the batch's (x, z) pairs, samples of the product of marginals the same codes shuffled across the batch.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ppl_ssl.errors import ConfigError


def rbf_kernel(bandwidth: float):
    """k(a, b) = exp(−‖a − b‖² / (2 bandwidth²)), the Gaussian kernel."""
    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.exp(-torch.cdist(a, b).pow(2) / (2 * bandwidth ** 2))
    return kernel


def imq_kernel(scale: float, multipliers: tuple[float, ...] = (1.0,)):
    """k(a, b) = Σ_s C_s / (C_s + ‖a − b‖²) with C_s = s · scale, the inverse multiquadratic kernel (WAE's, Tolstikhin
    et al.; summed over several scales s as Pythae's WAE does, whose scale is 2 · L · bandwidth²)."""
    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        squared = torch.cdist(a, b).pow(2)
        return sum(c / (c + squared) for c in (s * scale for s in multipliers))
    return kernel


def pythae_kernel(kind: str, latent_dim: int, bandwidth: float, scales: tuple[float, ...] | list[float] = (1.0,)):
    """Pythae's kernels for WAE and InfoVAE, C = 2·L·bandwidth²: `rbf` exp(−‖a − b‖²/C), `imq` Σ_s sC/(sC + ‖a − b‖²)."""
    scale = 2 * latent_dim * bandwidth ** 2
    if kind == "rbf":
        return rbf_kernel(math.sqrt(scale / 2))  # exp(−‖a − b‖²/(2h²)) with 2h² = C
    return imq_kernel(scale, tuple(scales))


def mmd(x: torch.Tensor, y: torch.Tensor, kernel) -> torch.Tensor:
    """Unbiased estimate of MMD²(P, Q) from x ~ P (n, D) and y ~ Q (m, D) under `kernel` (a function of two sets
    of points returning their kernel matrix): the within-sample means leave out the diagonal k(a, a)."""
    n, m = len(x), len(y)
    kxx, kyy = kernel(x, x), kernel(y, y)
    within_x = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    within_y = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return within_x + within_y - 2 * kernel(x, y).mean()


def mmd_to_prior(z: torch.Tensor, prior, kernel) -> torch.Tensor:
    """`mmd` between the codes z (N, ..., L) of a batch and N draws of the prior distribution (Monte Carlo draws
    for the estimate, not a latent variable of the model): InfoVAE's and WAE's penalty."""
    draws = prior.sample((len(z),))
    return mmd(z.flatten(0, -2), draws.flatten(0, -2), kernel)


def mmd_rbf(x: torch.Tensor, y: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """`mmd` under the Gaussian kernel of this bandwidth."""
    return mmd(x, y, rbf_kernel(bandwidth))


def decomposed_kl(z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> dict[str, torch.Tensor]:
    """The KL term of the ELBO split three ways (Chen et al. 2018, β-TC-VAE), per code of a batch of M codes
    z_i ~ q(z | x_i) = N(loc_i, scale_i²), with the aggregate posterior q(z) and its marginals q(z_d) estimated by
    minibatch weighted sampling on the batch itself (q(z) ≈ (1/M) Σ_j q(z | x_j); the dataset size only adds
    constants, which the three terms' sum and every gradient ignore), and the prior N(0, I):

        log q(z|x) − log p(z) = [log q(z|x) − log q(z)] + [log q(z) − Π_d q(z_d)] + [Σ_d log q(z_d) − log p(z_d)]
                              =  mutual_information     +  total_correlation      +  dimension_wise_kl

    z, loc, scale: (M, L) -> each term (M,)."""
    pairwise = torch.distributions.Normal(loc.unsqueeze(0), scale.unsqueeze(0)).log_prob(z.unsqueeze(1))  # (M_i, M_j, L)
    log_batch = math.log(len(z))
    own = pairwise.diagonal(dim1=0, dim2=1).sum(0)                          # log q(z_i | x_i)
    aggregate = torch.logsumexp(pairwise.sum(-1), dim=1) - log_batch        # log q(z_i)
    marginals = (torch.logsumexp(pairwise, dim=1) - log_batch).sum(-1)      # Σ_d log q(z_i,d)
    prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)        # log p(z_i)
    return {"mutual_information": own - aggregate, "total_correlation": aggregate - marginals,
            "dimension_wise_kl": marginals - prior}


class MutualInformationCritic(nn.Module):
    """T(x, z): an MLP on the flattened input and the code; `forward` is the DV bound on I(x; z) in nats."""

    def __init__(self, input_dim: int, code_dim: int, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(input_dim + code_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 1))

    def score(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x.flatten(1), z], dim=-1)).squeeze(-1)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """E_joint[T] − log E_marginals[e^T] over the batch (x (N, ...), z (N, L)); z rolled by one row stands in for
        a draw from q(z) independent of x (a derangement, so no pair is its own)."""
        joint = self.score(x, z).mean()
        marginal = self.score(x, z.roll(1, dims=0))
        return joint - (torch.logsumexp(marginal, 0) - math.log(len(marginal)))


def permute_dims(z: torch.Tensor) -> torch.Tensor:
    """Each column of z (N, L) shuffled across the batch on its own: draws from Π_d q(z_d), the product of the
    aggregate posterior's marginals, when z's rows are draws from q(z) (Kim & Mnih 2018, Algorithm 1)."""
    order = torch.rand(z.shape, device=z.device).argsort(0)
    return z.gather(0, order)


def with_fixed_parameters(module: nn.Module, *args) -> torch.Tensor:
    """module(*args) with its parameters detached: a term built on the output trains the inputs, never the module
    (how one loss holds a discriminator's rule and the rule of what it judges, apart)."""
    fixed = {name: parameter.detach() for name, parameter in module.named_parameters()}
    return torch.func.functional_call(module, fixed, args)


class _ScaledGradient(torch.autograd.Function):
    """x forward; its gradient times `scale` (a tensor: a gate decided on the device needs no host) backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(scale)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, gradient: torch.Tensor):
        (scale,) = ctx.saved_tensors
        return gradient * scale.to(gradient.dtype), None


def with_scaled_parameter_gradients(module: nn.Module, scale: torch.Tensor, *args) -> torch.Tensor:
    """module(*args) whose parameters receive `scale` times the gradient of a term built on the output, while the
    inputs receive all of it (VAEGAN's decoder trains by (1 − α) L_llike, the encoder by L_llike, from one term)."""
    scaled = {name: _ScaledGradient.apply(parameter, scale) for name, parameter in module.named_parameters()}
    return torch.func.functional_call(module, scaled, args)


class CodeDiscriminator(nn.Module):
    """D(z): a classifier of codes, trained to tell one distribution's draws (label 1) from another's (label 0); at
    its optimum its logit is the log density ratio of the two. FactorVAE uses it to estimate the total correlation
    of q(z) against the product of its marginals, the AAE to push q(z) toward the prior.

    `classification_loss` sees the codes detached (it trains D only); `frozen` sees D's parameters detached (its
    gradient reaches the codes, never D): one loss holds both training rules, apart."""

    def __init__(self, latent_dim: int, hidden: list[int] | tuple[int, ...] = (1000,) * 5, activation: str = "leaky_relu"):
        super().__init__()
        layers, width = [], latent_dim
        for size in hidden:
            layers += [nn.Linear(width, size), nn.LeakyReLU(0.2) if activation == "leaky_relu" else nn.ReLU()]
            width = size
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """The logit of 'z is a draw of the positive distribution', (N,)."""
        return self.net(z).squeeze(-1)

    def frozen(self, z: torch.Tensor) -> torch.Tensor:
        """The logits with D's parameters held fixed: a term built on them trains the codes, not D."""
        return with_fixed_parameters(self, z)

    def classification_loss(self, positives: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        """D's mean binary cross-entropy, ½ (BCE(positives, 1) + BCE(negatives, 0)), on detached codes."""
        real, fake = self(positives.detach()), self(negatives.detach())
        return 0.5 * (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                      + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


class TotalCorrelationDiscriminator(CodeDiscriminator):
    """FactorVAE's density-ratio estimate of the total correlation (Kim & Mnih 2018):

        TC(q(z)) = KL(q(z) ‖ Π_d q(z_d)) = E_q(z)[log q(z) / Π_d q(z_d)] ≈ E_q(z)[logit D(z)]

    with D trained on draws of q(z) (label 1) against draws of Π_d q(z_d) (`permute_dims`, label 0). The paper's
    net: 6 layers of 1000 units with LeakyReLU(0.2)."""

    def log_ratio(self, z: torch.Tensor) -> torch.Tensor:
        """The estimate of log q(z)/Π_d q(z_d) at each code, (N,), with D held fixed."""
        return self.frozen(z)

    def tc_loss(self, z: torch.Tensor) -> torch.Tensor:
        """D's cross-entropy between the codes and their dimension-wise permutation."""
        return self.classification_loss(z, permute_dims(z.detach()))


class ImageDiscriminator(nn.Module):
    """D(x): a convolutional classifier of images (real: label 1) whose hidden layers also serve as a feature space,
    VAEGAN's learnt similarity (Larsen et al. 2016). Pythae's MNIST discriminator by default: convolutions (k4, s2,
    p1) to 128, 256, 512, 1024 channels with ReLU, Tanh, ReLU, ReLU, then a linear logit.

    `features(x, layer)` is the output of hidden layer `layer` (1-based); `frozen=True` holds D's parameters fixed
    in it (its gradient reaches the images, never D), as `CodeDiscriminator.frozen` does for codes."""

    ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}

    def __init__(self, image_shape: tuple[int, int, int], channels=(128, 256, 512, 1024),
                 activations=("relu", "tanh", "relu", "relu")):
        super().__init__()
        smallest = 2 ** len(channels)
        if min(image_shape[1:]) < smallest:
            raise ConfigError(f"a discriminator of {len(channels)} stride-2 layers needs images of at least {smallest}×"
                              f"{smallest} pixels, not {image_shape[1]}×{image_shape[2]}; give "
                              f"model.program.discriminator_channels at most {max(1, min(image_shape[1:]).bit_length() - 1)} entries")
        blocks, width = [], image_shape[0]
        for size, activation in zip(channels, activations):
            blocks.append(nn.Sequential(nn.Conv2d(width, size, 4, 2, 1), self.ACTIVATIONS[activation]()))
            width = size
        self.blocks = nn.ModuleList(blocks)
        with torch.no_grad():
            flat = self._hidden(torch.zeros(1, *image_shape), len(blocks)).numel()
        self.head = nn.Linear(flat, 1)

    def _hidden(self, x: torch.Tensor, layer: int) -> torch.Tensor:
        for block in self.blocks[:layer]:
            x = block(x)
        return x

    def forward(self, x: torch.Tensor, layer: int | None = None) -> torch.Tensor:
        """The logit of 'x is a real image' (N,), or with `layer` that hidden layer's output flattened (N, F)."""
        if layer is not None:
            return self._hidden(x, layer).flatten(1)
        return self.head(self._hidden(x, len(self.blocks)).flatten(1)).squeeze(-1)

    def _call(self, x: torch.Tensor, layer: int | None, frozen: bool) -> torch.Tensor:
        if not frozen:
            return self(x, layer)
        return with_fixed_parameters(self, x, layer)

    def logit(self, x: torch.Tensor, frozen: bool = False) -> torch.Tensor:
        """The logit of 'x is a real image', (N,)."""
        return self._call(x, None, frozen)

    def features(self, x: torch.Tensor, layer: int, frozen: bool = False) -> torch.Tensor:
        """Hidden layer `layer`'s output, flattened: (N, F)."""
        return self._call(x, layer, frozen)

    def logit_and_features(self, x: torch.Tensor, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        """`logit(x)` and `features(x, layer)` from one pass (VAEGAN's data: D's cost on them, and their features)."""
        hidden = deepest = self._hidden(x, layer)
        for block in self.blocks[layer:]:
            deepest = block(deepest)
        return self.head(deepest.flatten(1)).squeeze(-1), hidden.flatten(1)
