"""VAEGAN (Larsen, Sønderby, Larochelle & Winther 2016, "Autoencoding beyond pixels using a learned similarity
metric"; Pythae's VAEGAN): the VAE's story observed through a discriminator's features.

    z ~ N(0, I),  x̃ = E[x | z] = sigmoid(Dec_θ(z))
    Dis_l(x) | z ~ N(Dis_l(x̃), σ² I)           the likelihood, in the l-th hidden layer of a discriminator D

so −log p(Dis_l(x) | z) = ‖Dis_l(x) − Dis_l(x̃)‖² / 2σ² + const, the reconstruction loss L_llike. σ² = 1
(`feature_variance`) is Larsen et al.'s Gaussian and Pythae 0.1.2's 0.5·‖·‖²; Pythae's code before 0.1.2 summed
the squared error unhalved (σ² = ½). D is trained to tell the data (label 1) from decoded prior draws Dec(z_p)
(label 0), and the decoder to fool it. Larsen et al.'s three training rules, as Pythae weighs them with α (`adversarial_weight`):

    encoder        KL + L_llike
    decoder        (1 − α) L_llike − α L_D
    discriminator  L_D = BCE(D(x), 1) + BCE(D(Dec(z_p)), 0)

live in one loss here, each term reaching only what its rule trains: the likelihood site sees D's parameters fixed
and passes the decoder's parameters 1 − α of its gradient (the encoder all of it); the decoder's −α L_D sees D
fixed; D's L_D sees the decoded draws detached.
The likelihood is a density of D's features, not of x, so the program observes no image and has no log p(x).

Larsen et al.'s equilibrium (Pythae's `equilibrium` 0.68 and `margin` 0.4): while either of D's two costs is below
equilibrium − margin, D is too good and pauses; while either is above equilibrium + margin, the decoder pauses; if
both would pause, both train. A paused part's terms weigh 0 in that step (the decoder's share of L_llike too), and
the training step leaves it as it was, its weights and its optimiser state (`paused_parts`), as Pythae skips that
part's optimiser step: a zero gradient alone would still move it by Adam's running moments. The gates are tensors:
deciding them and holding a part back cost no host synchronisation.

The loss's value is no single objective (it adds D's cost and takes the decoder's −α L_D away), so validation
(`train.keep_best`) watches Pythae's number instead, the sum of the three parts' losses:
KL + (2 − α) L_llike + (1 − α) L_D.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch import nn

from ppl_ssl.contracts import BuildContext
from ppl_ssl.divergences import ImageDiscriminator, with_scaled_parameter_gradients
from ppl_ssl.errors import ConfigError
from ppl_ssl.factors import objective_factor
from ppl_ssl.models.ssl import SSLModel, require_the_vaes_settings
from ppl_ssl.options import at_least, between, option, positive, widths
from ppl_ssl.registry import MODELS


FACTORS = ("discriminator", "fool_discriminator")  # the loss's terms beside the ELBO


def logit_cost(logit: torch.Tensor, label: float) -> torch.Tensor:
    """BCE of D's logits against `label`, a mean over the images (Pythae's)."""
    return F.binary_cross_entropy_with_logits(logit, torch.full_like(logit, label))


def discriminator_cost(discriminator: ImageDiscriminator, images: torch.Tensor, label: float,
                       frozen: bool = False) -> torch.Tensor:
    """BCE(D(images), label), a mean over the images."""
    return logit_cost(discriminator.logit(images, frozen=frozen), label)


def equilibrium_gates(real_cost: torch.Tensor, prior_cost: torch.Tensor, equilibrium: float,
                      margin: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(train D, train the decoder) as 1.0/0.0 tensors from D's two costs: D pauses while either cost is below
    equilibrium − margin, the decoder while either is above equilibrium + margin, and both train if both would pause."""
    low, high = equilibrium - margin, equilibrium + margin
    train_discriminator = ~((real_cost < low) | (prior_cost < low))
    train_decoder = ~((real_cost > high) | (prior_cost > high))
    neither = ~train_discriminator & ~train_decoder
    return (train_discriminator | neither).float(), (train_decoder | neither).float()


def vaegan_model(views: torch.Tensor, decoder: nn.Module, prior: nn.Module, likelihood: nn.Module,
                 discriminator: ImageDiscriminator, layer: int, adversarial_weight: float, equilibrium: float = 0.68,
                 margin: float = 0.4, feature_variance: float = 1.0, gates: dict | None = None,
                 costs: dict | None = None):
    """views (N, 1, C, H, W); `gates` receives {"discriminator": 1.0 or 0.0, "decoder": ...}, whether each trains, and
    `costs` {"feature_error": L_llike, "discriminator_loss": L_D}, each summed over the images and detached."""
    n, j = views.shape[:2]
    images = views.flatten(0, 1)
    alpha, gates, costs = adversarial_weight, ({} if gates is None else gates), ({} if costs is None else costs)

    def decoded(z: torch.Tensor, decoder_weight: torch.Tensor | None = None) -> torch.Tensor:  # (N·J, C, H, W)
        raw = decoder(z) if decoder_weight is None else with_scaled_parameter_gradients(decoder, decoder_weight, z)
        return likelihood.mean(raw).flatten(0, 1)

    # one pass of D over the data: its logit for D's cost, its layer's features for the likelihood's target (data,
    # which trains nothing)
    real_logit, real_features = discriminator.logit_and_features(images, layer)
    real_features, real_cost = real_features.detach(), logit_cost(real_logit, 1.0)
    fakes = decoded(prior(j).sample((n,)))  # decoded prior draws (the prior has no parameters: nothing to route)

    def train_discriminator() -> torch.Tensor:  # D's costs, the decoded draws detached; they also set both gates
        prior_cost = discriminator_cost(discriminator, fakes.detach(), 0.0)
        costs["discriminator_loss"] = n * (real_cost + prior_cost).detach()
        gates["discriminator"], gates["decoder"] = equilibrium_gates(real_cost.detach(), prior_cost.detach(),
                                                                     equilibrium, margin)
        return -n * gates["discriminator"] * (real_cost + prior_cost)

    objective_factor(FACTORS[0], train_discriminator)  # first: its gates set the decoder's weight on L_llike
    # the decoder trains by (1 − α) L_llike (0 while it pauses), the encoder by L_llike: one term, the gradient that
    # reaches the decoder's parameters scaled (none to scale where no gates were computed: a density-only trace)
    decoder_weight = gates["decoder"] * (1 - alpha) if "decoder" in gates else None
    with pyro.plate("images", n):
        z = pyro.sample("z", prior(j))
        decoded_features = discriminator.features(decoded(z, decoder_weight), layer, frozen=True)
        pyro.sample("features", dist.Normal(decoded_features, feature_variance ** 0.5).to_event(1), obs=real_features)
    costs["feature_error"] = (real_features - decoded_features).detach().pow(2).sum() / (2 * feature_variance)
    # D's cost on the data is the fooling term's half that no parameter reaches: its value, detached
    objective_factor(FACTORS[1], lambda: gates["decoder"] * alpha * n * (
        real_cost.detach() + discriminator_cost(discriminator, fakes, 0.0, frozen=True)))
    return z


@dataclass
class VAEGANOptions:
    adversarial_weight: float = option(0.5, between(0, 1, note="α: the decoder's (1 − α) L_llike − α L_D (Pythae's)"))
    feature_layer: int = option(3, at_least(1, "hidden layer of the discriminator whose features are observed"))
    discriminator_channels: list[int] = option([128, 256, 512, 1024], widths())
    equilibrium: float = option(0.68, at_least(0, "D's cost around which D and the decoder take turns (Pythae's)"))
    margin: float = option(0.4, at_least(0, "D pauses below equilibrium − margin, the decoder above equilibrium + margin; "
                                            "a margin beyond D's costs (e.g. 100) never pauses either"))
    feature_variance: float = option(1.0, positive("σ² of the Gaussian in D's features (Larsen et al.'s and Pythae "
                                                   "0.1.2's 1; ½ is Pythae's earlier summed squared error)"))


class VAEGANModel(SSLModel):
    adds_factors = True
    observes_images = False
    pauses_parts = True

    @classmethod
    def build(cls, options: VAEGANOptions, context: BuildContext) -> "VAEGANModel":
        model = cls(context.decoder, context.prior, context.likelihood)
        channels = options.discriminator_channels
        activations = ("relu", "tanh", *("relu",) * max(0, len(channels) - 2))[: len(channels)]
        model.discriminator = ImageDiscriminator(context.image_shape, channels, activations)
        model.options, model.gates = options, {}
        return model

    @classmethod
    def check_config(cls, config) -> None:
        require_the_vaes_settings(config, "vaegan", "the VAE's story observed through a discriminator", "vaegan")
        options = config.model.program.options
        if options.feature_layer > len(options.discriminator_channels):
            raise ConfigError(f"model.program.feature_layer = {options.feature_layer} is deeper than the discriminator's "
                              f"{len(options.discriminator_channels)} hidden layers; use a layer from 1 to "
                              f"{len(options.discriminator_channels)}")

    def forward(self, views):
        o = self.options
        # the last run's: the gates `paused_parts` reports to the training step that follows it, the costs
        # `validation_loss` reads
        self.gates, self.costs = {}, {}
        return vaegan_model(views, self.decoder, self.prior, self.likelihood, self.discriminator, o.feature_layer,
                            o.adversarial_weight, o.equilibrium, o.margin, o.feature_variance, self.gates, self.costs)

    def validation_loss(self, terms: dict) -> torch.Tensor:
        """Pythae's sum of the encoder's, the decoder's and D's losses, KL + (2 − α) L_llike + (1 − α) L_D, summed over
        the batch: the KL as the loss weighed it (closed form or at the draw) is the loss less every other term."""
        alpha = self.options.adversarial_weight
        kl = terms["loss"] + terms["reconstruction"] + sum(terms[name] for name in FACTORS)
        return kl + (2 - alpha) * self.costs["feature_error"] + (1 - alpha) * self.costs["discriminator_loss"]

    def paused_parts(self):
        """D and the decoder with the last training run's gates (none where it computed no gates)."""
        return [(list(part.parameters()), self.gates[name]) for name, part in
                (("discriminator", self.discriminator), ("decoder", self.decoder)) if name in self.gates]


MODELS.register("vaegan", VAEGANOptions,
                summary="z ~ N(0, I), D's features of x ~ N(D's features of E[x | z], σ² I), D trained against decoded prior draws (VAEGAN)")(VAEGANModel)
