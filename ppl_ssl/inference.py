"""Objectives for SVI, used as ordinary `nn.Module` losses (Pyro's `ELBO(...)(model, guide)` with module-local params).

- `elbo`: `TermTrace_ELBO`, Pyro's `Trace_ELBO` (particles vectorised) that also keeps the decomposition of its
  last estimate — reconstruction (observed sites), log prior (latent sites of the model) and entropy (−log q of
  the guide's sites) — unscaled, so the logged `elbo` is the model's true ELBO while `loss` is what is optimised.
  A `pyro.factor` site of the model (CR-VAE's contrastive term) is logged as its own term, outside the ELBO.
  Its KL weight (β, and the warm-up schedule) scales the latent sites of model and guide: β·KL.
- `iwae`: the importance-weighted bound of Burda et al., **per datum** (per set of views), K particles vectorised.

Both rest on one function, `importance_sample`, which runs guide and model once with a particle plate and
returns the log-weights log p(x, z_k) − log q(z_k | x) of every particle k and datum n, shape (K, N). The
importance-weighted NLL of `ppl_ssl.evaluation` is built on the same function. Pyro's own
`vectorized_importance_weights` and `RenyiELBO` sum over the data plate, which is why this one exists.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pyro
import pyro.poutine as poutine
import torch
from pyro.infer import ELBO, Trace_ELBO
from pyro.infer.trace_elbo import _compute_log_r
from pyro.infer.util import is_identically_zero
from pyro.poutine.messenger import Messenger
from pyro.poutine.util import site_is_subsample

from ppl_ssl.contracts import BuildContext, Objective
from ppl_ssl.errors import ConfigError
from ppl_ssl.factors import density_only
from ppl_ssl.options import at_least, between, one_of, option, positive
from ppl_ssl.registry import OBJECTIVES

pyro.settings.set(module_local_params=True)  # parameters live in the nn.Modules, not Pyro's global store

DEFAULT_OBJECTIVE = "elbo"  # what a config without an [objective] section fits (and what a discriminative method keeps)
DATA_PLATE_DIM = -1  # every program in models/ and guides/ puts each datum in one plate at this dim


class ScaleLatents(Messenger):
    """Multiplies the log-density of every *latent* sample site by `weight` (observed sites untouched): β·KL."""

    def __init__(self, weight: float):
        super().__init__()
        self.weight = weight

    def _pyro_sample(self, msg: dict) -> None:
        if not msg["is_observed"]:
            msg["scale"] = msg["scale"] * self.weight


def kl_weight(beta: float, warmup_epochs: float, epochs_done: float) -> float:
    """β, ramped linearly from 0 over the first `warmup_epochs` epochs (Bowman et al.'s KL annealing)."""
    if warmup_epochs <= 0:
        return beta
    return beta * min(1.0, epochs_done / warmup_epochs)


def _unscaled(site: dict) -> torch.Tensor:
    return site["unscaled_log_prob"].detach().sum()  # without β (which may be 0 in a warm-up)


@dataclass
class ELBOOptions:
    particles: int = option(1, at_least(1, 'vectorised samples per image'))
    beta: float = option(1.0, positive("the KL weight; 1: the ELBO, else the β-VAE's objective"))
    # the KL weight ramps linearly from 0 to beta over this many epochs (0: no warm-up)
    kl_warmup_epochs: float = option(0.0, positive(zero='none'))
    # how E_q[log p(z) − log q(z | x)] enters: estimated at the draw (Pyro's Trace_ELBO), or as −KL(q ‖ p) in closed
    # form wherever torch knows it for the site's pair (Pyro's TraceMeanField_ELBO; Pythae's VAE); same expectation
    kl: str = option("monte_carlo", one_of(("monte_carlo", "closed_form")))


@OBJECTIVES.register("elbo", ELBOOptions,
                     summary="Trace_ELBO (reparameterised Monte Carlo ELBO, objective.particles vectorised samples; β·KL)")
class TermTrace_ELBO(Trace_ELBO, Objective):
    """Trace_ELBO with a KL weight, recording the ELBO's terms (summed over the batch, averaged over particles).

    The loss is Pyro's Trace_ELBO surrogate, computed without leaving the device: Pyro's own version reads every
    site's log-density into a Python float (`torch_item`) and checks the loss for NaN (`warn_if_nan`), each a
    device→host synchronisation per step. Value and gradient are the same as Pyro's."""

    weighs_kl = True
    accepts_factors = True
    beta: float = 1.0
    warmup_epochs: float = 0.0
    closed_form_kl: bool = False

    @classmethod
    def build(cls, options: ELBOOptions, context: BuildContext | None = None) -> "TermTrace_ELBO":
        elbo = cls(num_particles=options.particles, vectorize_particles=True, max_plate_nesting=1)
        elbo.beta, elbo.warmup_epochs = options.beta, options.kl_warmup_epochs
        elbo.kl_weight = options.beta
        elbo.closed_form_kl = options.kl == "closed_form"
        return elbo

    def kl_weight_at(self, epochs_done: float) -> float:
        return kl_weight(self.beta, self.warmup_epochs, epochs_done)

    def differentiable_loss(self, model, guide, *args, **kwargs):
        self._terms = {"reconstruction": 0.0, "log_prior": 0.0, "entropy": 0.0}
        weight = self.kl_weight  # a number, or a device scalar (a captured step fills it before each replay)
        if isinstance(weight, torch.Tensor) or weight != 1.0:
            model, guide = ScaleLatents(weight)(model), ScaleLatents(weight)(guide)
        loss, surrogate = 0.0, 0.0
        for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
            loss_particle, surrogate_particle = self._differentiable_loss_particle(model_trace, guide_trace)
            loss = loss + loss_particle / self.num_particles
            surrogate = surrogate + surrogate_particle / self.num_particles
        terms = {k: v / self.num_particles for k, v in self._terms.items()}
        terms["elbo"] = terms["reconstruction"] + terms["log_prior"] + terms["entropy"]  # factors are not in the ELBO
        terms["loss"] = loss.detach()
        self.last_terms = terms
        return loss.detach() + (surrogate - surrogate.detach())  # the ELBO's value, the surrogate's gradient

    def _differentiable_loss_particle(self, model_trace, guide_trace):
        """(−ELBO, −surrogate ELBO) of one particle, as Pyro's Trace_ELBO computes them, kept as tensors; with
        `closed_form_kl`, each latent site whose KL(q ‖ p) torch knows enters as −(its scale)·KL instead."""
        elbo, surrogate, log_r = 0.0, 0.0, None
        closed_form = closed_form_kls(model_trace, guide_trace) if self.closed_form_kl else {}
        for kl in closed_form.values():
            elbo, surrogate = elbo - kl.detach(), surrogate - kl
        for site in model_trace.nodes.values():
            if site["type"] == "sample":
                if site["infer"].get("is_auxiliary"):  # a pyro.factor (e.g. CR-VAE's contrast): its own term
                    key = site["name"]
                else:
                    key = "reconstruction" if site["is_observed"] else "log_prior"
                self._terms[key] = self._terms.get(key, 0.0) + _unscaled(site)
                if site["name"] in closed_form:
                    continue
                elbo = elbo + site["log_prob_sum"].detach()
                surrogate = surrogate + site["log_prob_sum"]
        for site in guide_trace.nodes.values():
            if site["type"] == "sample":
                self._terms["entropy"] = self._terms["entropy"] - _unscaled(site)
                if site["name"] in closed_form:
                    continue
                _, score_function_term, entropy_term = site["score_parts"]
                elbo = elbo - site["log_prob_sum"].detach()
                if not is_identically_zero(entropy_term):
                    surrogate = surrogate - entropy_term.sum()
                if not is_identically_zero(score_function_term):  # a site without rsample: the score-function term
                    if log_r is None:
                        log_r = _compute_log_r(model_trace, guide_trace)
                    surrogate = surrogate + (log_r.sum_to(site["cond_indep_stack"]) * score_function_term).sum()
        return -elbo, -surrogate


def closed_form_kls(model_trace, guide_trace) -> dict[str, torch.Tensor]:
    """(scale)·KL(q ‖ p) summed over the batch, by site name, for each latent site whose guide and model
    distributions have a KL torch knows in closed form (as Pyro's TraceMeanField_ELBO); other sites are left out."""
    kls = {}
    for name, guide_site in guide_trace.nodes.items():
        model_site = model_trace.nodes.get(name)
        if guide_site["type"] != "sample" or model_site is None or model_site["is_observed"]:
            continue
        try:
            kl = torch.distributions.kl_divergence(guide_site["fn"], model_site["fn"])
        except NotImplementedError:
            continue
        kls[name] = (kl * guide_site["scale"]).sum()
    return kls


# ----------------------------------------------------------------------------------------------- importance weights


@dataclass
class ImportanceSample:
    """Per-particle, per-datum terms of K importance samples z_k ~ q(z | x_n); each tensor is (K, N)."""

    log_likelihood: torch.Tensor  # log p(x_n | z_k): the observed sites
    log_prior: torch.Tensor       # log p(z_k): the model's latent sites
    log_q: torch.Tensor           # log q(z_k | x_n): the guide's sites

    @property
    def log_weight(self) -> torch.Tensor:
        return self.log_likelihood + self.log_prior - self.log_q


def is_density_site(site: dict) -> bool:
    """A sample site that is part of the program's density: not a plate's subsample, not a `pyro.factor` (an
    objective's term, e.g. CR-VAE's contrast or InfoVAE's MMD, which is no part of p(x, z))."""
    return site["type"] == "sample" and not site_is_subsample(site) and not site["infer"].get("is_auxiliary", False)


def per_datum_log_prob(site: dict, particles: int, data: int) -> torch.Tensor:
    log_p = site["fn"].log_prob(site["value"])
    if log_p.dim() < 2 or log_p.shape[:2] != (particles, data):
        raise ValueError(f"sample site '{site['name']}' has log_prob shape {tuple(log_p.shape)}, not (particles={particles}, "
                         f"data={data}, ...): every site must lie inside the data plate at dim {DATA_PLATE_DIM}")
    return log_p.flatten(2).sum(-1) if log_p.dim() > 2 else log_p


def importance_sample(model, guide, *args, num_particles: int, **kwargs) -> ImportanceSample:
    """Run guide and model once with `num_particles` vectorised particles; per-datum log-densities, each (K, N).

    The programs must place each datum in a plate at dim -1 (size N = the first dim of their first argument);
    a particle plate goes at dim -2. β and other scales are ignored, and objective terms (`pyro.factor`) are left
    out: these are the model's true densities.
    """
    data = len(args[0])
    with density_only(), pyro.plate("importance_particles", num_particles, dim=DATA_PLATE_DIM - 1):
        guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(*args, **kwargs)
    zero = torch.zeros(num_particles, data, device=args[0].device)
    log_likelihood, log_prior, log_q = zero, zero, zero
    for site in model_trace.nodes.values():
        if is_density_site(site):
            if site["is_observed"]:
                log_likelihood = log_likelihood + per_datum_log_prob(site, num_particles, data)
            else:
                log_prior = log_prior + per_datum_log_prob(site, num_particles, data)
    for site in guide_trace.nodes.values():
        if is_density_site(site):
            log_q = log_q + per_datum_log_prob(site, num_particles, data)
    return ImportanceSample(log_likelihood, log_prior, log_q)


def elbo_terms(sample: ImportanceSample) -> dict[str, torch.Tensor]:
    """The ELBO and its terms (reconstruction, log prior, entropy) of importance samples, averaged over particles
    and summed over the batch, detached: what the importance-weighted objectives log beside their bound."""
    mean_over_particles = lambda t: t.detach().mean(0).sum()  # noqa: E731
    terms = {"reconstruction": mean_over_particles(sample.log_likelihood),
             "log_prior": mean_over_particles(sample.log_prior), "entropy": -mean_over_particles(sample.log_q)}
    terms["elbo"] = terms["reconstruction"] + terms["log_prior"] + terms["entropy"]
    return terms


def iwae_bound(log_weight: torch.Tensor) -> torch.Tensor:
    """log (1/K) Σ_k w_k per datum, from log-weights (K, N)."""
    return log_weight.logsumexp(0) - math.log(log_weight.shape[0])


def miwae_bound(log_weight: torch.Tensor, groups: int) -> torch.Tensor:
    """(1/M) Σ_m log (1/K) Σ_k w_mk per datum, from log-weights (M·K, N) split into M groups of K (Rainforth et al.
    2018): between the ELBO (K = 1) and the IWAE bound on all M·K samples (M = 1)."""
    return iwae_bound(log_weight.unflatten(0, (groups, -1)).transpose(0, 1)).mean(0)


def ciwae_bound(log_weight: torch.Tensor, beta: float) -> torch.Tensor:
    """β·ELBO + (1 − β)·IWAE on the same K samples per datum, from log-weights (K, N) (Rainforth et al. 2018)."""
    return beta * log_weight.mean(0) + (1 - beta) * iwae_bound(log_weight)


class SelfTracingELBO(ELBO):
    """A Pyro ELBO whose `differentiable_loss` traces guide and model itself (not through ELBO's `_get_traces`):
    Pyro's `loss` and `loss_and_grads` from it."""

    def loss(self, model, guide, *args, **kwargs) -> float:
        with torch.no_grad():
            return float(self.differentiable_loss(model, guide, *args, **kwargs))

    def loss_and_grads(self, model, guide, *args, **kwargs) -> float:
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        loss.backward()
        return float(loss.detach())

    def _get_trace(self, model, guide, args, kwargs):  # abstract in ELBO, never called here
        raise NotImplementedError(f"{type(self).__name__} traces model and guide in differentiable_loss")


@dataclass
class IWAEOptions:
    particles: int = option(5, at_least(1, 'K importance samples per image; 1 is the ELBO'))


@OBJECTIVES.register("iwae", IWAEOptions,
                     summary="importance-weighted bound with K = objective.particles samples, per datum (Burda et al.)")
class IWAE(SelfTracingELBO, Objective):
    """The importance-weighted bound log (1/K) Σ_k p(x, z_k)/q(z_k | x), per datum, summed over the batch.

    K = num_particles ≥ 1 (K = 1 is the ELBO). Gradients are reparameterised (every guide here has rsample).
    It takes no KL weight: a β or warm-up on the IWAE bound would no longer bound log p(x).
    """

    needs_guide_density = True  # importance weights divide by q(z | x)

    @classmethod
    def build(cls, options: IWAEOptions, context: BuildContext | None = None) -> "IWAE":
        return cls(num_particles=options.particles)

    def __init__(self, num_particles: int = 5):
        super().__init__(num_particles=num_particles, max_plate_nesting=1, vectorize_particles=True)

    def bound(self, log_weight: torch.Tensor) -> torch.Tensor:
        """The bound per datum from the particles' log-weights (K, N)."""
        return iwae_bound(log_weight)

    def differentiable_loss(self, model, guide, *args, **kwargs):
        sample = importance_sample(model, guide, *args, num_particles=self.num_particles, **kwargs)
        bound = self.bound(sample.log_weight).sum()
        terms = elbo_terms(sample)
        terms["iwae"], terms["loss"] = bound.detach(), -bound.detach()
        self.last_terms = terms
        return -bound


@dataclass
class MIWAEOptions:
    groups: int = option(4, at_least(1, 'M groups of K samples per image'))
    particles: int = option(5, at_least(1, 'K importance samples in each group'))


@OBJECTIVES.register("miwae", MIWAEOptions,
                     summary="the mean of M importance-weighted bounds of K samples each, per datum (MIWAE, Rainforth et al.)")
class MIWAE(IWAE):
    @classmethod
    def build(cls, options: MIWAEOptions, context: BuildContext | None = None) -> "MIWAE":
        return cls(options.groups, options.particles)

    def __init__(self, groups: int = 4, particles: int = 5):
        super().__init__(num_particles=groups * particles)
        self.groups = groups

    def bound(self, log_weight: torch.Tensor) -> torch.Tensor:
        return miwae_bound(log_weight, self.groups)


@dataclass
class PIWAEOptions:
    groups: int = option(4, at_least(1, "M groups of K samples: the guide's MIWAE bound"))
    particles: int = option(5, at_least(1, "K importance samples in each group; the model's IWAE bound takes all M·K"))


@OBJECTIVES.register("piwae", PIWAEOptions,
                     summary="the model ascends the IWAE bound of M·K samples, the guide the MIWAE bound of M groups of K (PIWAE)")
class PIWAE(IWAE):
    """Rainforth et al.'s PIWAE: one set of M·K importance samples per datum; the model's parameters follow the
    gradient of the IWAE bound on all of them, the guide's that of the MIWAE bound (M groups of K), whose gradient
    signal for the guide does not vanish as K grows. One backward pass gives each its own gradient: the loss is the
    IWAE bound's value plus a surrogate, linear in the parameters, whose gradient is the routed one. The parameters
    of model and guide must be disjoint (a VampPrior shares the encoder) and the gradients are taken inside the
    loss, so one process only."""

    @classmethod
    def build(cls, options: PIWAEOptions, context: BuildContext | None = None) -> "PIWAE":
        return cls(options.groups, options.particles)

    @classmethod
    def check_config(cls, config) -> None:
        from ppl_ssl.registry import PRIORS

        if PRIORS[config.model.prior.kind].component.shares_the_encoder:
            raise ConfigError(f"objective.kind = 'piwae' routes the model's and the guide's gradients apart, but "
                              f"model.prior.kind = '{config.model.prior.kind}' shares the guide's encoder; use "
                              "objective.kind=miwae or another prior")

    def __init__(self, groups: int = 4, particles: int = 5):
        super().__init__(num_particles=groups * particles)
        self.groups = groups

    def differentiable_loss(self, model, guide, *args, **kwargs):
        model_parameters = [p for p in model.parameters() if p.requires_grad]
        guide_parameters = [p for p in guide.parameters() if p.requires_grad]
        if {id(p) for p in model_parameters} & {id(p) for p in guide_parameters}:
            raise ConfigError("objective.kind = 'piwae' routes the model's and the guide's gradients apart, but they "
                              "share parameters (a VampPrior's encoder); use objective.kind=miwae")
        sample = importance_sample(model, guide, *args, num_particles=self.num_particles, **kwargs)
        iwae, miwae = iwae_bound(sample.log_weight).sum(), miwae_bound(sample.log_weight, self.groups).sum()
        surrogate = iwae.new_zeros(())
        if iwae.requires_grad:  # a loss to descend; where no gradient is taken (the validation loss), its value alone
            model_grads = torch.autograd.grad(iwae, model_parameters, retain_graph=True, allow_unused=True)
            guide_grads = torch.autograd.grad(miwae, guide_parameters, allow_unused=True)
            surrogate = sum((p * g.detach()).sum() for p, g in zip(model_parameters + guide_parameters,
                                                                   model_grads + guide_grads) if g is not None)
        terms = elbo_terms(sample)
        terms["iwae"], terms["miwae"], terms["loss"] = iwae.detach(), miwae.detach(), -iwae.detach()
        self.last_terms = terms
        return -iwae.detach() - (surrogate - surrogate.detach())  # the IWAE bound's value, the routed gradients


@dataclass
class CIWAEOptions:
    particles: int = option(5, at_least(1, 'K importance samples per image'))
    beta: float = option(0.5, between(0, 1, note="the ELBO's share; 1 is the ELBO, 0 the IWAE bound"))


@OBJECTIVES.register("ciwae", CIWAEOptions,
                     summary="β·ELBO + (1 − β)·IWAE bound on the same K samples, per datum (CIWAE, Rainforth et al.)")
class CIWAE(IWAE):
    @classmethod
    def build(cls, options: CIWAEOptions, context: BuildContext | None = None) -> "CIWAE":
        return cls(options.particles, options.beta)

    def __init__(self, particles: int = 5, beta: float = 0.5):
        super().__init__(num_particles=particles)
        self.beta = beta

    def bound(self, log_weight: torch.Tensor) -> torch.Tensor:
        return ciwae_bound(log_weight, self.beta)


# ------------------------------------------------------------------------------------------------- a KL capacity


@dataclass
class CapacityOptions:
    beta: float = option(10.0, positive("weight of |KL − C|"))            # Pythae's default
    capacity: float = option(50.0, positive("C_max, nats per image"))       # Pythae's default C
    warmup_epochs: float = option(25.0, positive(zero="C_max from the start"))  # C rises linearly over these


def per_datum_kl(guide_site: dict, model_site: dict) -> torch.Tensor:
    """KL(q(z | x) ‖ p(z)) of each datum at one latent site: closed form where torch has it (Gaussians), else the
    one-sample estimate log q(z) − log p(z) at the guide's draw."""
    try:
        kl = torch.distributions.kl_divergence(guide_site["fn"], model_site["fn"])
    except NotImplementedError:
        kl = guide_site["fn"].log_prob(guide_site["value"]) - model_site["fn"].log_prob(model_site["value"])
    return kl.flatten(1).sum(-1) if kl.dim() > 1 else kl


@OBJECTIVES.register("capacity", CapacityOptions,
                     summary="reconstruction − β·|KL − C|, C rising linearly to C_max (Burgess et al.'s disentangled β-VAE)")
class CapacityELBO(SelfTracingELBO, Objective):
    """Burgess et al. (2018), "Understanding disentangling in β-VAE": the KL of each image is pulled toward a
    capacity C that grows linearly from 0 to C_max over `warmup_epochs`, with weight β:

        loss = Σ_n [ −E_q log p(x_n | z) + β · |KL(q(z | x_n) ‖ p(z)) − C(t)| ]

    The per-step scalar that the system hands every objective (`kl_weight`, filled before each step and each
    captured replay) carries C(t) here, not a weight: `kl_weight_at` returns the capacity."""

    weighs_kl = True            # takes the per-step schedule value (here C(t))
    needs_guide_density = True  # the KL needs q(z | x)

    @classmethod
    def build(cls, options: CapacityOptions, context: BuildContext | None = None) -> "CapacityELBO":
        return cls(options)

    def __init__(self, options: CapacityOptions = CapacityOptions()):
        super().__init__(num_particles=1, max_plate_nesting=1)
        self.beta, self.capacity, self.warmup_epochs = options.beta, options.capacity, options.warmup_epochs
        self.kl_weight = self.kl_weight_at(0.0)

    def kl_weight_at(self, epochs_done: float) -> float:
        """C(t): 0 → C_max linearly over the warm-up epochs."""
        if self.warmup_epochs <= 0:
            return self.capacity
        return self.capacity * min(1.0, epochs_done / self.warmup_epochs)

    def differentiable_loss(self, model, guide, *args, **kwargs):
        guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(*args, **kwargs)
        reconstruction, kl, log_prior, entropy = 0.0, 0.0, 0.0, 0.0
        for name, site in model_trace.nodes.items():
            if not is_density_site(site):
                continue
            log_p = site["fn"].log_prob(site["value"])
            per_datum = log_p.flatten(1).sum(-1) if log_p.dim() > 1 else log_p
            if site["is_observed"]:
                reconstruction = reconstruction + per_datum
            else:
                kl = kl + per_datum_kl(guide_trace.nodes[name], site)
                log_prior = log_prior + per_datum.sum().detach()  # the ELBO's terms at the draw, as the ELBO logs them
                entropy = entropy - guide_trace.nodes[name]["fn"].log_prob(guide_trace.nodes[name]["value"]).sum().detach()
        capacity = self.kl_weight
        loss = (-reconstruction + self.beta * (kl - capacity).abs()).sum()
        reconstruction, kl = reconstruction.sum().detach(), kl.sum().detach()
        self.last_terms = {"reconstruction": reconstruction, "log_prior": log_prior, "entropy": entropy, "kl": kl,
                           "elbo": reconstruction - kl, "capacity": torch.as_tensor(capacity).detach(), "loss": loss.detach()}
        return loss
