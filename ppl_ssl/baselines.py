"""Discriminative SSL baselines as plain torch modules: SimCLR, VICReg, MoCo v1 and v2, and the untrained
encoder of the papers' *Random* row (`method.kind`).

Each trains the *same* encoder as the generative models (`nets.kind`), on the same batched augmentations and J
views, through the same `fit`; the representation evaluated downstream is the encoder output (its mean head, L
dimensions), never the projection head. None has a decoder: `ppl-ssl decode` fits one post hoc.

Losses are reported summed over the batch's views, like the ELBO terms, so the log shows them per view.
"""
from __future__ import annotations

import dataclasses
from abc import abstractmethod
from dataclasses import dataclass

import torch
from torch import nn


from ppl_ssl import distributed
from ppl_ssl.contracts import BuildContext, Method
from ppl_ssl.contrastive import MomentumContrast, ProjectionHead, nt_xent, vicreg_terms
from ppl_ssl.errors import ConfigError
from ppl_ssl.inference import DEFAULT_OBJECTIVE
from ppl_ssl.options import at_least, between, non_negative, option, positive, widths
from ppl_ssl.registry import METHODS, NETS, OBJECTIVES


class EncoderMean(nn.Module):
    """The encoder's location output: the representation of the discriminative methods."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images)[0]


class DiscriminativeSystem(Method):
    """What the trainer and the evaluation need from a method without a generative model."""

    has_density = False  # no q(z | x): no importance weights, no posterior diagnostics
    can_decode = False   # no p(x | z): reconstructions come from a post-hoc decoder
    uses_objective = False  # its own loss: no [objective], no KL weight

    @classmethod
    def check_config(cls, config) -> None:
        """Every method compares J ≥ 2 views; an [objective] setting (β, particles, warm-up) has no meaning here."""
        if config.model.views < 2:
            raise ConfigError(f"method '{config.method.kind}' compares views of an image and needs model.views ≥ 2, got "
                              f"{config.model.views}; use --views 2")
        cls.check_no_objective(config)

    @staticmethod
    def check_no_objective(config) -> None:
        defaults = {"kind": DEFAULT_OBJECTIVE, **dataclasses.asdict(OBJECTIVES[DEFAULT_OBJECTIVE].options())}
        given = [key for key, value in config.objective.to_dict().items() if defaults.get(key) != value]
        if given:
            keys = ", ".join(f"objective.{key}" for key in given)
            raise ConfigError(f"method '{config.method.kind}' trains by its own loss and has no KL term or particles: {keys} does "
                              f"not apply; drop it (the [objective] section is for method.kind = svi)")

    @classmethod
    def build(cls, options, context: BuildContext) -> "DiscriminativeSystem":
        """The method's system on the config's encoder (nets.kind, latent size)."""
        config = context.config
        encoder, _ = NETS.build(config.nets.kind, config.nets.options, context)
        return cls(encoder, context.latent_dim, options)

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def represent(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images)[0]

    @abstractmethod
    def loss_terms(self, views: torch.Tensor) -> dict[str, torch.Tensor]:
        """Scalar terms of the method's loss on views (N, J, C, H, W); must include 'loss' (a per-view mean).

        Under torchrun the views are one rank's shard and the terms, times the shard's view count, are summed over
        ranks: a mean over this shard's views, or a statistic of the whole (gathered) batch, adds up to the
        single-process loss of the whole batch."""

    def training_loss(self, views: torch.Tensor, kl_weight: float | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss (the method's own; `kl_weight` does not apply) and its terms, summed over the batch's views."""
        count = views.shape[0] * views.shape[1]
        terms = {k: v * count for k, v in self.loss_terms(views).items()}  # per-view means → sums over views
        return terms["loss"], {k: v.detach() for k, v in terms.items()}

    def project_views(self, views: torch.Tensor) -> torch.Tensor:
        """Projection-head outputs of views (N, J, C, H, W): (N, J, D)."""
        n, j = views.shape[:2]
        return self.head(self.represent(views.flatten(0, 1))).unflatten(0, (n, j))

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The representation of images (N, C, H, W): the encoder's output, (N, L)."""
        return self.represent(images)

    def _no_decoder(self, *_):
        raise ConfigError(f"{type(self).__name__} is a discriminative method with no decoder; fit one to its frozen encoder "
                          f"with ppl-ssl decode RUN (ppl_ssl.posthoc.fit_posthoc_decoder)")

    decode = reconstruct = sample = sample_prior = _no_decoder




@dataclass
class SimCLROptions:
    temperature: float = option(0.7, positive())  # the SimVAE paper's setting for its baselines
    projection: list[int] = option([512, 128], widths())
    batch_norm: bool = True  # between the head's layers, as in SimCLR; per rank on a CPU under torchrun


class SimCLR(DiscriminativeSystem):
    """SimCLR (Chen et al. 2020): NT-Xent between projected views; with J > 2 every other view is a positive."""

    def __init__(self, encoder: nn.Module, latent_dim: int, options: SimCLROptions):
        super().__init__(encoder)
        self.head = ProjectionHead(latent_dim, options.projection, batch_norm=options.batch_norm)
        self.temperature = options.temperature

    def loss_terms(self, views):
        projections = self.project_views(views)
        batch, offset = distributed.gather_batch(projections)  # under torchrun: every rank's views are candidates
        loss = nt_xent(projections, self.temperature, batch, offset).mean()
        return {"loss": loss, "nt_xent": loss.detach()}


METHODS.register("simclr", SimCLROptions, summary="SimCLR: NT-Xent between J views through a projection head")(SimCLR)


@dataclass
class VICRegOptions:
    invariance: float = option(25.0, non_negative())  # λ
    variance: float = option(25.0, non_negative())    # μ
    covariance: float = option(1.0, non_negative())   # ν
    expander: list[int] = option([512, 512, 512], widths())
    batch_norm: bool = True  # between the expander's layers, as in VICReg


class VICReg(DiscriminativeSystem):
    """VICReg (Bardes et al. 2022): λ·invariance + μ·variance + ν·covariance of expanded views."""

    def __init__(self, encoder: nn.Module, latent_dim: int, options: VICRegOptions):
        super().__init__(encoder)
        self.head = ProjectionHead(latent_dim, options.expander, batch_norm=options.batch_norm)
        self.weights = {"invariance": options.invariance, "variance": options.variance, "covariance": options.covariance}

    def loss_terms(self, views):
        projections = self.project_views(views)
        terms = vicreg_terms(projections, batch=distributed.gather_batch(projections)[0])  # global batch statistics
        loss = sum(self.weights[k] * v for k, v in terms.items())
        return {"loss": loss, **{k: v.detach() for k, v in terms.items()}}


METHODS.register("vicreg", VICRegOptions, summary="VICReg: invariance/variance/covariance (25/25/1) of expanded views")(VICReg)


@dataclass
class MoCoV2Options:
    temperature: float = option(0.2, positive())
    queue_size: int = option(4096, at_least(1))
    momentum: float = option(0.99, between(0, 1, high_open=True))
    projection: list[int] = option([512, 128], widths())


class MoCoV2(DiscriminativeSystem):
    """MoCo v2 (Chen et al. 2020b): queries from view 1 through encoder + MLP head, keys from a momentum copy of
    both on the other views, negatives from a FIFO queue; InfoNCE."""

    def __init__(self, encoder: nn.Module, latent_dim: int, options: MoCoV2Options):
        super().__init__(encoder)
        self.head = ProjectionHead(latent_dim, options.projection)
        self.query_network = nn.Sequential(EncoderMean(encoder), self.head)  # shares the encoder's parameters
        self.contrast = MomentumContrast(self.query_network, self.head.out_dim, options.queue_size, options.temperature,
                                         options.momentum)

    def loss_terms(self, views):
        loss = self.contrast(self.query_network(views[:, 0]), views[:, 1:]).mean()
        return {"loss": loss, "info_nce": loss.detach()}

    def after_step(self) -> None:
        self.contrast.after_step(self.query_network)


METHODS.register("mocov2", MoCoV2Options, summary="MoCo v2: InfoNCE against a momentum encoder and a queue of 4096 keys")(MoCoV2)


@dataclass
class MoCoV1Options:
    temperature: float = option(0.7, positive())   # the SimVAE paper's (A.7.4); He et al. used 0.07
    queue_size: int = option(4096, at_least(1))
    momentum: float = option(0.99, between(0, 1, high_open=True))
    # []: no head, the query is the (L2-normalised) representation itself, as MoCo v1's encoder output is
    projection: list[int] = option([], widths(may_be_empty=True, note="[]: no head"))


class MoCoV1(MoCoV2):
    """MoCo v1 (He et al. 2020): MoCo v2's momentum contrast without its MLP head (v2's other changes, blur and a
    cosine schedule, are not used by either here: the SimVAE paper keeps augmentations identical across methods)."""


METHODS.register("mocov1", MoCoV1Options, summary="MoCo v1: InfoNCE of the encoder's output against a momentum encoder "
                 "and a queue, no projection head")(MoCoV1)


class RandomEncoder(DiscriminativeSystem):
    """The papers' *Random* row: the encoder as initialised, never trained — a lower bound for every method.

    Its loss is an exact 0 that still reaches every parameter, so the ordinary loop runs (checkpoints, resume,
    evaluation) and every gradient is 0: an optimiser without weight decay leaves the weights where the seed put
    them (`check_config` refuses one with weight decay)."""

    learns = False  # a budget gives it one epoch, whatever it gives the others

    @classmethod
    def check_config(cls, config) -> None:
        cls.check_no_objective(config)  # any number of views: none is compared
        options = config.optim.options
        decay = dataclasses.asdict(options).get("weight_decay", 0.0) if options is not None else 0.0
        if decay:
            raise ConfigError(f"method 'random' keeps the encoder as initialised, but optim.weight_decay = {decay} would "
                              f"shrink it; use --set optim.weight_decay=0")

    def __init__(self, encoder: nn.Module, latent_dim: int, options: None):
        super().__init__(encoder)

    def loss_terms(self, views):
        loss = torch.stack([p.sum() for p in self.encoder.parameters()]).sum() * 0.0
        return {"loss": loss}


METHODS.register("random", summary="the encoder as initialised, never trained (the papers' Random row)")(RandomEncoder)
