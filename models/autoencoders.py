"""Deterministic autoencoders of Pythae's family as Pyro programs. Each is fitted with the Delta guide
(z = μ_φ(x), a point), so its ELBO is the model's log-joint at that point: what the model says about z is the
penalty the code pays.

    AE       x | z ~ p_θ(x | z), z without a density                 reconstruction alone
    RAE      z ~ N(0, I/β), x | z ~ p_θ(x | z)                        −β/2·‖z‖² (Ghosh et al.'s RAE; Pythae's
             − λ_θ/2 · N · ‖θ_dec‖²                                   embedding_weight β): RAE-L2 with the decoder's
             − λ_gp · Σ_n ‖∇_z Σ_pixels D_θ(z_n)‖²                    weight penalty, RAE-GP with the gradient one
    WAE      x | z ~ p_θ(x | z), − λ · N · MMD²(q(z), p(z))            the prior enters only through the MMD
                                                                      (Tolstikhin et al.'s WAE-MMD)
    VQ-VAE   k ~ Uniform{1..K}, x | k ~ p_θ(x | e_k)                   log p(k) = −log K, a constant; the guide
             − N·(‖e − sg[z_e]‖² + c·‖z_e − sg[e]‖²)                   quantises μ_φ(x) to its nearest entry with a
                                                                      straight-through gradient (van den Oord et al.)
    AAE      x | z ~ p_θ(x | z), − w · Σ_n BCE(D(z_n), 1)              the prior enters only through a discriminator
             (D trained apart: prior draws against the codes)         (Makhzani et al.'s AAE; its codes from the
                                                                      gaussian_draw guide, a noisy point)

With the Gaussian likelihood of variance ½, −log p(x | z) is the summed squared error of Pythae's reconstruction
loss, so β, λ_θ, λ_gp and λ are Pythae's `embedding_weight`, `reg_weight` and `reg_weight` on the same scale.
Penalties on the batch (the decoder's weights, the MMD) are scaled by N to weigh like the per-image terms summed
over the batch, as Pythae's losses are per-image means. The gradient penalty is a training term: where no gradient
is being taken (the validation loss), it is left out.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch import nn

from ppl_ssl.contracts import BuildContext
from ppl_ssl.divergences import CodeDiscriminator, mmd_to_prior, pythae_kernel
from ppl_ssl.factors import objective_factor
from ppl_ssl.models.ssl import SSLModel
from ppl_ssl.errors import ConfigError
from ppl_ssl.options import at_least, list_of, non_negative, one_of, option, positive, widths
from ppl_ssl.quantisation import Codebook
from ppl_ssl.registry import MODELS


def unpenalised_code(views: torch.Tensor, latent_dim: int) -> dist.TorchDistribution:
    """The site of a code the model puts no density on: log-density 0 everywhere (an improper flat 'prior')."""
    n, j = views.shape[:2]
    return dist.ImproperUniform(dist.constraints.real, (n,), (j, latent_dim))


def autoencoder_model(views: torch.Tensor, decoder: nn.Module, likelihood: nn.Module, latent_dim: int):
    """AE: views (N, J, C, H, W)."""
    with pyro.plate("images", views.shape[0]):
        z = pyro.sample("z", unpenalised_code(views, latent_dim))
        pyro.sample("x", likelihood(decoder(z)).to_event(1), obs=views)
    return z


def gradient_penalty(z: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
    """Σ over codes of ‖∇_z Σ_pixels D(z)‖², Pythae's RAE-GP penalty (the gradient of the summed output, not the
    Jacobian's norm); zero where no gradient is being taken."""
    if not (torch.is_grad_enabled() and z.requires_grad):
        return raw.new_zeros(())
    grad, = torch.autograd.grad(raw.sum(), z, create_graph=True)
    return grad.pow(2).sum()


def rae_model(views: torch.Tensor, decoder: nn.Module, likelihood: nn.Module, latent_dim: int, code_weight: float,
              decoder_weight_penalty: float, gradient_penalty_weight: float):
    """RAE: z ~ N(0, I/β) (log-density −β/2‖z‖² + const), and the decoder's penalties as factors."""
    n, j = views.shape[:2]
    with pyro.plate("images", n):
        z = pyro.sample("z", dist.Normal(views.new_zeros(()), 1 / math.sqrt(code_weight)).expand((j, latent_dim)).to_event(2))
        raw = decoder(z)
        pyro.sample("x", likelihood(raw).to_event(1), obs=views)
    if decoder_weight_penalty:
        objective_factor("decoder_weights",
                         lambda: -decoder_weight_penalty / 2 * n * sum(p.pow(2).sum() for p in decoder.parameters()))
    if gradient_penalty_weight:
        objective_factor("gradient_penalty", lambda: -gradient_penalty_weight * gradient_penalty(z, raw))
    return z


def wae_model(views: torch.Tensor, decoder: nn.Module, prior: nn.Module, likelihood: nn.Module, latent_dim: int,
              mmd_weight: float, kernel):
    """WAE-MMD: the codes' distribution is pulled to the prior by the MMD between the batch's codes and as many
    prior draws."""
    n, j = views.shape[:2]
    with pyro.plate("images", n):
        z = pyro.sample("z", unpenalised_code(views, latent_dim))
        pyro.sample("x", likelihood(decoder(z)).to_event(1), obs=views)
    objective_factor("mmd", lambda: -mmd_weight * n * mmd_to_prior(z, prior(j), kernel))
    return z


def aae_model(views: torch.Tensor, decoder: nn.Module, prior: nn.Module, likelihood: nn.Module, latent_dim: int,
              discriminator: CodeDiscriminator, adversarial_weight: float):
    """AAE: the codes' distribution is pushed toward the prior by fooling D (whose parameters that term holds
    fixed), while D learns, from its own cross-entropy on detached codes, to tell prior draws from the codes."""
    n, j = views.shape[:2]
    with pyro.plate("images", n):
        z = pyro.sample("z", unpenalised_code(views, latent_dim))
        pyro.sample("x", likelihood(decoder(z)).to_event(1), obs=views)
    codes = z.reshape(n * j, -1)
    objective_factor("fool_discriminator", lambda: -adversarial_weight * F.softplus(-discriminator.frozen(codes)).sum())
    objective_factor("discriminator", lambda: -n * discriminator.classification_loss(
        prior(j).sample((n,)).reshape(n * j, -1), codes))
    return z


def vq_vae_model(views: torch.Tensor, decoder: nn.Module, likelihood: nn.Module, latent_dim: int, encoder: nn.Module,
                 codebook: Codebook, codebook_weight: float, commitment_weight: float):
    """VQ-VAE: z is a codebook entry (the guide's quantised point); the prior over the K entries is uniform, a
    constant −log K left out. The codebook and commitment losses read the encoder's codes by encoding the views
    again (a model cannot read the guide's values)."""
    n, j = views.shape[:2]
    with pyro.plate("images", n):
        z = pyro.sample("z", unpenalised_code(views, latent_dim))
        pyro.sample("x", likelihood(decoder(z)).to_event(1), obs=views)

    def quantisation_losses() -> torch.Tensor:
        codebook_loss, commitment_loss = codebook.losses(encoder(views.flatten(0, 1))[0])
        return -n * (codebook_weight * codebook_loss + commitment_weight * commitment_loss)

    objective_factor("quantisation", quantisation_losses)
    return z


class AutoencoderModel(SSLModel):
    @classmethod
    def build(cls, options: None, context: BuildContext) -> "AutoencoderModel":
        return cls(context.decoder, context.prior, context.likelihood, context.latent_dim)

    def __init__(self, decoder, prior, likelihood, latent_dim: int):
        super().__init__(decoder, prior, likelihood)
        self.latent_dim = latent_dim

    def forward(self, views):
        return autoencoder_model(views, self.decoder, self.likelihood, self.latent_dim)


@dataclass
class RAEOptions:
    code_weight: float = option(1e-4, positive())  # β: the code's prior N(0, I/β) (Pythae's embedding_weight)
    decoder_weight_penalty: float = option(0.0, non_negative())  # λ_θ: RAE-L2 (Pythae's reg_weight, 1e-7 there)
    gradient_penalty: float = option(0.0, non_negative())  # λ_gp: RAE-GP (Pythae's reg_weight, 1e-7 there)


class RAEModel(AutoencoderModel):
    adds_factors = True

    @classmethod
    def build(cls, options: RAEOptions, context: BuildContext) -> "RAEModel":
        model = cls(context.decoder, context.prior, context.likelihood, context.latent_dim)
        model.options = options
        return model

    def forward(self, views):
        o = self.options
        return rae_model(views, self.decoder, self.likelihood, self.latent_dim, o.code_weight, o.decoder_weight_penalty,
                         o.gradient_penalty)


@dataclass
class WAEOptions:
    mmd_weight: float = option(3e-2, non_negative())  # λ (Pythae's reg_weight default)
    kernel: str = option("imq", one_of(("imq", "rbf")))
    bandwidth: float = option(1.0, positive())  # C = 2·L·bandwidth² (Pythae's kernel_bandwidth)
    # the IMQ kernel's multipliers of C (Pythae's scales)
    scales: list[float] = option([0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0], list_of(positive(), text="positive multipliers"))


class WAEModel(AutoencoderModel):
    adds_factors = True

    @classmethod
    def build(cls, options: WAEOptions, context: BuildContext) -> "WAEModel":
        model = cls(context.decoder, context.prior, context.likelihood, context.latent_dim)
        model.mmd_weight = options.mmd_weight
        model.kernel = pythae_kernel(options.kernel, context.latent_dim, options.bandwidth, options.scales)
        return model

    def forward(self, views):
        return wae_model(views, self.decoder, self.prior, self.likelihood, self.latent_dim, self.mmd_weight, self.kernel)


@dataclass
class AAEOptions:
    # w: the adversarial term against the summed squared error; Pythae's adversarial_loss_scale α = 0.5 weighs
    # (1 − α)·SSE + α·BCE, the same ratio as SSE + 1·BCE
    adversarial_weight: float = option(1.0, non_negative())
    discriminator_hidden: list[int] = option([256], widths())  # Pythae's default D: one hidden layer of 256 ReLU


class AAEModel(AutoencoderModel):
    adds_factors = True

    @classmethod
    def build(cls, options: AAEOptions, context: BuildContext) -> "AAEModel":
        model = cls(context.decoder, context.prior, context.likelihood, context.latent_dim)
        model.discriminator = CodeDiscriminator(context.latent_dim, options.discriminator_hidden, activation="relu")
        model.adversarial_weight = options.adversarial_weight
        return model

    def forward(self, views):
        return aae_model(views, self.decoder, self.prior, self.likelihood, self.latent_dim, self.discriminator,
                         self.adversarial_weight)


@dataclass
class VQVAEOptions:
    entries: int = option(512, at_least(2, "codebook entries"))   # K (Pythae's num_embeddings)
    codebook_weight: float = option(1.0, non_negative())         # Pythae's quantization_loss_factor
    commitment_weight: float = option(0.25, non_negative())      # c (Pythae's commitment_loss_factor)
    # numbers of the code quantised together: the whole code (0) to one of K vectors, or pieces of this size each to
    # its own entry; 1 is what Pythae 0.1.2 does with a flat code (every coordinate one of K scalars)
    entry_dim: int = option(0, positive(zero="the whole code"))


class VQVAEModel(AutoencoderModel):
    adds_factors = True

    @classmethod
    def build(cls, options: VQVAEOptions, context: BuildContext) -> "VQVAEModel":
        model = cls(context.decoder, context.prior, context.likelihood, context.latent_dim)
        model.codebook = Codebook(options.entries, context.latent_dim, options.entry_dim or None)
        model.encoder, model.options = context.encoder, options  # the guide's encoder, shared
        return model

    @classmethod
    def check_config(cls, config) -> None:
        if config.guide.kind != "vector_quantised":
            raise ConfigError("model.program = 'vq_vae' quantises the guide's codes: set guide.kind = 'vector_quantised' "
                              "(or use --model vq-vae)")
        entry_dim, latent = config.model.program.options.entry_dim, config.model.latent_dim
        if entry_dim and latent % entry_dim:
            raise ConfigError(f"model.program.entry_dim = {entry_dim} does not divide model.latent_dim = {latent}: the "
                              f"code is quantised in pieces of entry_dim numbers; use a divisor of {latent} (1 quantises "
                              f"each coordinate, 0 the whole code)")

    def forward(self, views):
        o = self.options
        return vq_vae_model(views, self.decoder, self.likelihood, self.latent_dim, self.encoder, self.codebook,
                            o.codebook_weight, o.commitment_weight)

    @torch.no_grad()
    def decode_codes(self, z: torch.Tensor) -> torch.Tensor:
        """Mean image of each code's nearest entry: the representation (the encoder's code before quantisation)
        decodes as the decoder saw it in training."""
        return super().decode_codes(self.codebook.nearest(z))

    @torch.no_grad()
    def sample_codes(self, n: int, views: int = 1) -> torch.Tensor:
        """Codes from the prior: uniform draws of codebook entries, (n, views, L)."""
        return self.codebook.sample(n * views).reshape(n, views, -1)


MODELS.register("autoencoder", summary="x | z ~ p(x | z), no density on z: the plain AE (with the delta guide)")(AutoencoderModel)
MODELS.register("rae", RAEOptions, summary="z ~ N(0, I/β) and the decoder's weight or gradient penalty (RAE-L2, RAE-GP)")(RAEModel)
MODELS.register("vq_vae", VQVAEOptions, summary="x | k ~ p(x | e_k), k uniform over a learnt codebook; the guide quantises (VQ-VAE)")(VQVAEModel)
MODELS.register("aae", AAEOptions, summary="x | z ~ p(x | z) − w·Σ BCE(D(z), 1), D trained on prior draws against the codes (AAE)")(AAEModel)
MODELS.register("wae", WAEOptions, summary="x | z ~ p(x | z) − λ·N·MMD²(q(z), p(z)), IMQ or RBF kernel (WAE-MMD)")(WAEModel)
