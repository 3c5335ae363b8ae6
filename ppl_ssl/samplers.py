"""Ex-post samplers (Pythae's idea): densities fitted to the training codes after training, to generate from.

A fitted model's prior and its aggregate posterior q(z) rarely match (the "holes" in the prior); decoding
samples of a density fitted to the codes E_q[z | x] of the training images gives sharper samples. Each sampler
is an `nn.Module` whose state (the fitted parameters) is saved in RUN/samplers/NAME.pt.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from abc import abstractmethod

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from torch import nn

from ppl_ssl import contracts
from ppl_ssl.contracts import BuildContext
from ppl_ssl.flows import FlowStack
from ppl_ssl.registry import SAMPLERS


class Sampler(contracts.Sampler):
    """fit(codes (N, L)) once, then sample(n) -> codes (n, L) and log_prob(codes) -> (N,), from `distribution()`."""

    @abstractmethod
    def distribution(self) -> dist.TorchDistribution:
        """The fitted density over codes."""

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        return self.distribution().sample((n,))

    @torch.no_grad()
    def log_prob(self, codes: torch.Tensor) -> torch.Tensor:
        return self.distribution().log_prob(codes)


@SAMPLERS.register("prior", summary="the model's own prior p(z) (no fitting)")
class PriorSampler(Sampler):
    def __init__(self, options: None, context: BuildContext):
        super().__init__()
        self.prior = context.system.model.prior

    def distribution(self) -> dist.TorchDistribution:
        return self.prior(1)

    def fit(self, codes: torch.Tensor) -> "PriorSampler":
        return self

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        return self.prior(1).sample((n,))[:, 0]

    @torch.no_grad()
    def log_prob(self, codes: torch.Tensor) -> torch.Tensor:
        return self.prior(1).log_prob(codes.unsqueeze(-2))


@dataclass
class GaussianMixtureOptions:
    components: int = 10
    seed: int = 0


@SAMPLERS.register("gmm", GaussianMixtureOptions,
                   summary="full-covariance Gaussian mixture (scikit-learn, 10 components) fitted to the codes")
class GaussianMixtureSampler(Sampler):
    def __init__(self, options: "GaussianMixtureOptions", context: BuildContext):
        super().__init__()
        components, latent_dim, self.seed = options.components, context.latent_dim, options.seed
        self.register_buffer("weights", torch.full((components,), 1.0 / components))
        self.register_buffer("means", torch.zeros(components, latent_dim))
        self.register_buffer("scale_tril", torch.eye(latent_dim).repeat(components, 1, 1))

    def fit(self, codes: torch.Tensor) -> "GaussianMixtureSampler":
        from sklearn.mixture import GaussianMixture  # scikit-learn only when a mixture is fitted

        gmm = GaussianMixture(len(self.weights), covariance_type="full", random_state=self.seed, reg_covar=1e-5)
        gmm.fit(codes.cpu().double().numpy())
        as_buffer = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32, device=self.means.device)  # noqa: E731
        self.weights.copy_(as_buffer(gmm.weights_))
        self.means.copy_(as_buffer(gmm.means_))
        self.scale_tril.copy_(as_buffer(np.linalg.cholesky(gmm.covariances_)))
        return self

    def distribution(self) -> dist.TorchDistribution:
        return dist.MixtureSameFamily(dist.Categorical(probs=self.weights), dist.MultivariateNormal(self.means, scale_tril=self.scale_tril))


@dataclass
class MAFSamplerOptions:
    flows: int = 4
    seed: int = 0
    epochs: int = 30
    batch_size: int = 512
    lr: float = 1e-3


@SAMPLERS.register("maf", MAFSamplerOptions,
                   summary="masked autoregressive flow (4 layers) fitted by maximum likelihood to the standardised codes")
class MAFSampler(Sampler):
    def __init__(self, options: MAFSamplerOptions, context: BuildContext):
        super().__init__()
        latent_dim = context.latent_dim
        self.seed, self.training_options = options.seed, options
        width = max(64, latent_dim)  # 64 hidden units, or the code's size where larger (a MADE needs at least that)
        self.flow = FlowStack(["affine_autoregressive"] * options.flows, latent_dim, [width, width], inverse=True,
                              owner="sampler 'maf'")
        self.register_buffer("shift", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.ones(latent_dim))

    def distribution(self) -> dist.TorchDistribution:
        base = dist.Normal(torch.zeros_like(self.shift), torch.ones_like(self.shift)).to_event(1)
        standardise = dist.transforms.AffineTransform(self.shift, self.scale, event_dim=1)
        return dist.TransformedDistribution(base, [*self.flow.transforms(), standardise])

    def fit(self, codes: torch.Tensor) -> "MAFSampler":
        codes = codes.to(self.shift.device)
        self.shift.copy_(codes.mean(0))
        self.scale.copy_(codes.std(0) + 1e-6)
        opts = self.training_options
        optimiser = torch.optim.Adam(self.flow.parameters(), lr=opts.lr)
        gen = torch.Generator().manual_seed(self.seed)
        steps_per_epoch = math.ceil(len(codes) / opts.batch_size)
        for _ in range(opts.epochs):
            order = torch.randperm(len(codes), generator=gen).to(codes.device)
            for step in range(steps_per_epoch):
                batch = codes[order[step * opts.batch_size : (step + 1) * opts.batch_size]]
                loss = -self.distribution().log_prob(batch).mean()
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
        return self


@dataclass
class TwoStageOptions:
    hidden: list[int] = field(default_factory=lambda: [1024, 1024])  # Dai & Wipf's second stage: wide MLPs
    epochs: int = 50
    batch_size: int = 256
    lr: float = 1e-3
    importance_samples: int = 100  # K of the importance-weighted log_prob
    seed: int = 0


def _mlp(inputs: int, hidden: list[int], outputs: int) -> nn.Sequential:
    layers, width = [], inputs
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    return nn.Sequential(*layers, nn.Linear(width, outputs))


@SAMPLERS.register("two_stage", TwoStageOptions,
                   summary="a second VAE fitted to the standardised codes, sampled through its prior (Dai & Wipf's 2-stage VAE)")
class TwoStageSampler(contracts.Sampler):
    """Dai & Wipf (2019): a second VAE over the standardised codes, u ~ N(0, I), z | u ~ N(g(u), γ² I) with γ
    learnt, fitted by SVI to the first model's training codes. Samples are its own draws, u from its prior and z
    from p(z | u); Pythae decodes the mean g(u), which is the same draw once γ has shrunk toward 0, and leaves the
    codes unstandardised. Its log_prob is the importance-weighted estimate with its own guide (a lower bound in
    expectation), the estimator of every other likelihood in ppl-ssl."""

    def __init__(self, options: TwoStageOptions, context: BuildContext):
        super().__init__()
        latent_dim, self.options = context.latent_dim, options
        self.encoder = _mlp(latent_dim, options.hidden, 2 * latent_dim)
        self.decoder = _mlp(latent_dim, options.hidden, latent_dim)
        self.log_gamma = nn.Parameter(torch.zeros(()))
        self.register_buffer("shift", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.ones(latent_dim))

    def model(self, z: torch.Tensor) -> None:
        with pyro.plate("codes", len(z)):
            u = pyro.sample("u", dist.Normal(z.new_zeros(()), 1.0).expand(z.shape).to_event(1))
            pyro.sample("z", dist.Normal(self.decoder(u), self.log_gamma.exp()).to_event(1), obs=z)

    def guide(self, z: torch.Tensor) -> None:
        loc, raw_scale = self.encoder(z).chunk(2, dim=-1)
        with pyro.plate("codes", len(z)):
            pyro.sample("u", dist.Normal(loc, torch.nn.functional.softplus(raw_scale) + 1e-4).to_event(1))

    def fit(self, codes: torch.Tensor) -> "TwoStageSampler":
        codes = codes.to(self.shift.device)
        self.shift.copy_(codes.mean(0))
        self.scale.copy_(codes.std(0) + 1e-6)
        standard = (codes - self.shift) / self.scale
        opts = self.options
        optimiser = torch.optim.Adam(self.parameters(), lr=opts.lr)
        elbo = pyro.infer.Trace_ELBO()
        gen = torch.Generator().manual_seed(opts.seed)
        for _ in range(opts.epochs):
            order = torch.randperm(len(standard), generator=gen).to(standard.device)
            for batch in standard[order].split(opts.batch_size):
                loss = elbo.differentiable_loss(self.model, self.guide, batch) / len(batch)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
        return self

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        u = torch.randn(n, len(self.shift), device=self.shift.device)
        z = self.decoder(u) + self.log_gamma.exp() * torch.randn_like(u)
        return z * self.scale + self.shift

    @torch.no_grad()
    def log_prob(self, codes: torch.Tensor) -> torch.Tensor:
        # imported here: the evaluation package imports the config, which imports the registries and so this module
        from ppl_ssl.evaluation.likelihood import importance_weighted_nll

        standard = (codes.to(self.shift.device) - self.shift) / self.scale
        log_p = importance_weighted_nll(self.model, self.guide, standard, num_samples=self.options.importance_samples)
        return log_p.to(codes.device) - self.scale.log().sum()  # the standardisation's Jacobian


def build_sampler(name: str, system, latent_dim: int) -> Sampler:
    """Sampler `name` with its default options, for the codes of a trained system."""
    entry = SAMPLERS[name]
    return entry.build(entry.options() if entry.options else None, BuildContext(None, latent_dim=latent_dim, system=system))
