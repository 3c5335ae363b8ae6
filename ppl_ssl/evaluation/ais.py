"""Annealed importance sampling (Neal 2001) with HMC transitions, and bidirectional Monte Carlo (Grosse et al. 2015):
log p(x) of any model program, with a measured error bound.

AIS moves K chains per image through T + 1 distributions from a start distribution f_0 to the posterior,

    log f_t(z) = (1 − β_t) log q(z | x) + β_t log p(x, z)      (start = 'guide', the default)
    log f_t(z) = log p(z) + β_t log p(x | z)                     (start = 'prior', as Wu et al. 2017)

with 0 = β_0 < … < β_T = 1, and accumulates log w = Σ_t log f_t(z_{t−1}) − log f_{t−1}(z_{t−1}), each z_t drawn by
an HMC transition that leaves f_t invariant. E[w] = p(x), so log (1/K) Σ_k w_k is a stochastic lower bound on
log p(x) (Jensen), as the importance-weighted bound is, and it tightens as T grows where IW tightens only with K.

BDMC runs the same chains backwards (β from 1 to 0) from an exact posterior draw, which exists for data simulated
from the model (z ~ p(z), x ~ p(x | z)): its weights estimate 1/p(x), so −log of their mean is a stochastic upper
bound. On simulated data the true log p(x) lies (in expectation) between the two, and their gap bounds the
forward estimator's error at that T.

Everything comes from the Pyro programs themselves: the latent sites and their shapes from one trace of the guide,
log p(x, z) from the model conditioned on the chains' z (`poutine.condition`), log q(z | x) from the guide
conditioned the same way. No model re-writes its density. The chains run in coordinates u whitened by the start
distribution's per-image mean m and scale s (z = m + s ⊙ u: HMC with the diagonal mass matrix 1/s², which the
start fixes before the chains move), all images and chains in one batch on the device; log-weights are float64.

Each image's leapfrog step size is a function of β fixed before the chains start, by a short pilot run (its own
chains, one per image, `pilot_steps` transitions) whose step sizes adapt toward a target acceptance rate: multiplied
by `adapt` when the acceptance probability of the image's pilot chain is above it, divided otherwise. Wu et al.
(2017) adapt inside the chains being weighted; a kernel that depends on the chain's own past no longer leaves the
AIS weight unbiased, and on PPCA that bias showed (estimates above the exact log p(x) by 4 standard errors), so the
adaptation is kept out of the weighted chains. The pilot's cost is counted in `evaluations_per_image`.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
from pyro.distributions import constraints
from pyro.distributions.torch_distribution import ExpandedDistribution, MaskedDistribution
from torch.distributions import constraints as torch_constraints
import torch

from ppl_ssl.errors import ConfigError
from ppl_ssl.evaluation.likelihood import bits_per_dim, importance_weighted_nll, require_a_likelihood, test_views
from ppl_ssl.factors import density_only
from ppl_ssl.inference import DATA_PLATE_DIM, is_density_site, per_datum_log_prob
from ppl_ssl.progress import progress_bar

STARTS = ("guide", "prior")
SCHEDULES = ("sigmoid", "linear")
PILOT_WARMUP = 20  # the pilot's transitions at β = 0 before it anneals
WHITENING_DRAWS = 32  # guide draws per image that fix the whitening (the chains' mass matrix)


@dataclass(frozen=True)
class AISSettings:
    """T = `steps` transitions, K = `chains` per image, HMC with `leapfrog` steps of an adapted size."""

    steps: int = 1000
    chains: int = 1
    leapfrog: int = 2               # at equal evaluations, more βs with short trajectories were tighter on PPCA
    step_size: float = 0.1          # the pilot's first leapfrog step, in whitened coordinates
    target_acceptance: float = 0.8
    adapt: float = 1.1              # the pilot's step-size factor per transition
    pilot_steps: int = 50           # transitions of the pilot run that sets the step sizes along β
    schedule: str = "sigmoid"       # β_t: Grosse et al.'s sigmoid (dense at both ends) or linear
    start: str = "guide"
    batch_size: int = 1000          # images per batch (each with its K chains)

    def __post_init__(self):
        if self.start not in STARTS:
            raise ConfigError(f"AIS start '{self.start}' is unknown; choose one of {', '.join(STARTS)}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"AIS schedule '{self.schedule}' is unknown; choose one of {', '.join(SCHEDULES)}")
        counts = {"steps": self.steps, "chains": self.chains, "leapfrog": self.leapfrog, "batch_size": self.batch_size,
                  "pilot_steps": self.pilot_steps}
        for name, value in counts.items():
            if value < 1:
                raise ConfigError(f"AIS {name} must be at least 1, not {value}")
        if not 0.0 < self.target_acceptance < 1.0:
            raise ConfigError(f"AIS target acceptance must lie in (0, 1), not {self.target_acceptance}")
        if self.step_size <= 0 or self.adapt < 1.0:
            raise ConfigError(f"AIS step size must be positive and adapt ≥ 1 (1: fixed), not {self.step_size}, {self.adapt}")

    @property
    def evaluations_per_image(self) -> int:
        """log p(x, z) evaluations (each with its gradient) per image: K chains × T transitions × leapfrog steps,
        and the pilot's one chain."""
        return (self.chains * self.steps + self.pilot_steps + PILOT_WARMUP) * self.leapfrog


def annealing_schedule(steps: int, kind: str = "sigmoid", sharpness: float = 4.0) -> torch.Tensor:
    """β_0 = 0 < … < β_T = 1 as float64. 'sigmoid': σ(δ(2t/T − 1)) rescaled to [0, 1] (Grosse et al. 2015)."""
    t = torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)
    if kind == "linear":
        return t
    s = torch.sigmoid(sharpness * (2.0 * t - 1.0))
    return (s - s[0]) / (s[-1] - s[0])


# ------------------------------------------------------------------------------------ the programs' log-densities


@dataclass
class LatentLayout:
    """The guide's latent sites, flattened into one vector per (chain, image): names, per-image shapes, sizes."""

    names: list[str]
    shapes: list[tuple[int, ...]]
    sizes: list[int] = field(init=False)

    def __post_init__(self):
        self.sizes = [math.prod(shape) for shape in self.shapes]

    @property
    def dim(self) -> int:
        return sum(self.sizes)

    def pack(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        """{site: (K, N, *shape)} → (K, N, D)."""
        return torch.cat([values[name].flatten(2) for name in self.names], dim=-1)

    def unpack(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """(K, N, D) → {site: (K, N, *shape)}."""
        parts = z.split(self.sizes, dim=-1)
        return {name: part.reshape(*z.shape[:2], *shape) for name, part, shape in zip(self.names, parts, self.shapes)}


def _euclidean(support) -> bool:
    """Whether a site's support is all of R^D (possibly per independent part or mixture component), where its
    density is one of Lebesgue measure: not the sphere's, not the Poincaré ball's."""
    while isinstance(support, (constraints.independent, torch_constraints.MixtureSameFamilyConstraint)):
        support = support.base_constraint
    return support is constraints.real


def _point_mass(fn) -> bool:
    """Whether a site's distribution is a Delta (an autoencoder's code), under any Independent/expand/mask wrapping."""
    while isinstance(fn, (torch.distributions.Independent, ExpandedDistribution, MaskedDistribution)):
        fn = fn.base_dist
    return isinstance(fn, dist.Delta)


def _trace_or_refuse(program, data: torch.Tensor, doing: str):
    """A trace of the program on data; where it must sample an improper prior (the plain AE's, WAE's, AAE's), which
    cannot be drawn from, one line saying so after `doing` (what needed the draw)."""
    try:
        return poutine.trace(program).get_trace(data)
    except NotImplementedError as error:
        raise ConfigError(f"{doing} ({str(error).splitlines()[0]}): a model without a normalised prior has no "
                          f"likelihood to estimate") from None


def _latent_sites(trace) -> dict[str, torch.Tensor]:
    return {name: site["value"] for name, site in trace.nodes.items()
            if is_density_site(site) and not site["is_observed"]}


def _site_sums(trace, chains: int, images: int, names, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(Σ log-densities of the sites in `names`, Σ of the other sample sites), each (K, N)."""
    inside = outside = torch.zeros(chains, images, device=device)
    for name, site in trace.nodes.items():
        if is_density_site(site):
            log_p = per_datum_log_prob(site, chains, images)
            if name in names:
                inside = inside + log_p
            else:
                outside = outside + log_p
    return inside, outside


class AnnealingPath:
    """The start distribution f_0 and the unnormalised posterior f_T of N data, from the programs:
    `start_and_joint(z)` gives (log f_0(z), log p(x, z)), each (K, N), differentiable in z (K, N, D)."""

    def __init__(self, model, guide, data: torch.Tensor, start: str = "guide"):
        self.model, self.guide, self.data, self.start = model, guide, data, start
        self.images = len(data)
        draws = self._draws(1)
        self.layout = LatentLayout(list(draws), [tuple(v.shape[2:]) for v in draws.values()])

    @torch.no_grad()
    def _draws(self, chains: int) -> dict[str, torch.Tensor]:
        with pyro.plate("ais_chains", chains, dim=DATA_PLATE_DIM - 1):
            program = self.guide if self.start == "guide" else self.model
            trace = _trace_or_refuse(program, self.data, f"AIS from the {self.start} cannot draw its start")
        for name, site in trace.nodes.items():
            if self.start == "guide" and is_density_site(site) and _point_mass(site["fn"]):
                raise ConfigError(f"AIS from the guide anneals away from q(z | x), but guide site '{name}' is a point "
                                  f"mass (a Delta: an autoencoder's code), which has no density to anneal from; start "
                                  f"from the prior (--ais-start prior) where the model's prior is normalised")
            if is_density_site(site) and not site["is_observed"] and not _euclidean(site["fn"].support):
                raise ConfigError(f"AIS moves the codes by Hamiltonian dynamics in R^D, but latent site '{name}' lives on "
                                  f"{site['fn'].support} (a sphere or a hyperbolic ball, densities of its own volume); "
                                  f"estimate its NLL by importance weighting (--nll iw)")
        return _latent_sites(trace)

    def draw_start(self, chains: int) -> torch.Tensor:
        """Exact draws from f_0: (K, N, D)."""
        return self.layout.pack(self._draws(chains))

    def _conditioned_trace(self, program, values: dict[str, torch.Tensor], chains: int):
        """A trace of the program with its latent sites held at `values`, K chains in a plate."""
        with pyro.plate("ais_chains", chains, dim=DATA_PLATE_DIM - 1):
            return poutine.trace(poutine.condition(program, data=values)).get_trace(self.data)

    def joint(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(log p(z), log p(x | z)), each (K, N), of codes z (K, N, D)."""
        values = self.layout.unpack(z)
        trace = self._conditioned_trace(self.model, values, z.shape[0])
        unknown = [name for name in _latent_sites(trace) if name not in values]
        if unknown:
            raise ConfigError(f"the model has latent sites {unknown} that the guide does not sample; AIS needs the guide "
                              f"to cover every latent site of the model")
        return _site_sums(trace, z.shape[0], self.images, values, z.device)

    def log_guide(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z | x), (K, N): the guide conditioned on z (a flow guide inverts its bijection)."""
        values = self.layout.unpack(z)
        trace = self._conditioned_trace(self.guide, values, z.shape[0])
        try:
            log_q, _ = _site_sums(trace, z.shape[0], self.images, values, z.device)
        except (KeyError, NotImplementedError):  # planar/radial flows and Hamiltonian dynamics know only their draws
            raise ConfigError("AIS from the guide evaluates q(z | x) at codes the guide did not draw, and this guide's "
                              "density is known at its own draws only (planar/radial flows, Hamiltonian dynamics); "
                              "start from the prior (--ais-start prior)") from None
        return log_q

    def start_and_joint(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_prior, log_likelihood = self.joint(z)
        log_start = log_prior if self.start == "prior" else self.log_guide(z)
        return log_start, log_prior + log_likelihood

    def whitening(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image mean and scale (1, N, D) of the start distribution: from guide draws (or 0 and 1 for the prior,
        whose scale is far from the posterior's: Wu et al.'s identity mass matrix)."""
        if self.start == "prior":
            shape = (1, self.images, self.layout.dim)
            return torch.zeros(shape, device=self.data.device), torch.ones(shape, device=self.data.device)
        draws = self.draw_start(WHITENING_DRAWS)
        return draws.mean(0, keepdim=True), draws.std(0, keepdim=True).clamp_min(1e-6)


# ------------------------------------------------------------------------------------------------- the sampler


@dataclass
class ChainState:
    """Whitened positions u (K, N, D) with log f_0 and log p(x, z) (K, N) and their gradients (K, N, D), kept apart
    so that the gradient of log f_β = (1 − β) log f_0 + β log p(x, z) is had at any β without evaluating again."""

    u: torch.Tensor
    log_start: torch.Tensor
    log_joint: torch.Tensor
    grad_start: torch.Tensor
    grad_joint: torch.Tensor

    def grad(self, beta: float) -> torch.Tensor:
        return (1.0 - beta) * self.grad_start + beta * self.grad_joint

    def where(self, accept: torch.Tensor, other: "ChainState") -> "ChainState":
        """This state where `accept` (K, N), else `other`."""
        keep = accept[..., None]
        return ChainState(torch.where(keep, self.u, other.u), torch.where(accept, self.log_start, other.log_start),
                          torch.where(accept, self.log_joint, other.log_joint),
                          torch.where(keep, self.grad_start, other.grad_start),
                          torch.where(keep, self.grad_joint, other.grad_joint))


@dataclass
class StepSizes:
    """Each image's leapfrog step size as a function of β: the pilot's sizes (P, N) at its βs (P,), read at the
    largest pilot β not above the asked one."""

    betas: torch.Tensor
    sizes: torch.Tensor

    def at(self, beta: float) -> torch.Tensor:
        index = int(torch.searchsorted(self.betas, torch.tensor(beta, dtype=self.betas.dtype), right=True)) - 1
        return self.sizes[max(index, 0)][None, :, None]


class AnnealedSampler:
    """HMC transitions along the path, in whitened coordinates z = m + s ⊙ u, with per-image step sizes: fixed
    (`step_sizes` given: the weighted chains) or adapted as the chains move (None: the pilot, which records them)."""

    def __init__(self, path: AnnealingPath, settings: AISSettings, whitening: tuple[torch.Tensor, torch.Tensor],
                 step_sizes: StepSizes | None = None):
        self.path, self.settings, self.step_sizes = path, settings, step_sizes
        self.mean, self.scale = whitening
        self.step = torch.full((1, path.images, 1), settings.step_size, device=self.mean.device)
        self.recorded_betas: list[float] = []
        self.recorded_sizes: list[torch.Tensor] = []
        self.acceptance: list[torch.Tensor] = []

    def to_u(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.mean) / self.scale

    def evaluate(self, u: torch.Tensor) -> ChainState:
        with torch.enable_grad():
            u = u.detach().requires_grad_(True)
            log_start, log_joint = self.path.start_and_joint(self.mean + self.scale * u)
            grad_joint, = torch.autograd.grad(log_joint.sum(), u, retain_graph=True)
            grad_start, = torch.autograd.grad(log_start.sum(), u)  # cheap: q(z | x) or p(z), not the decoder
        return ChainState(u.detach(), log_start.detach(), log_joint.detach(), grad_start, grad_joint)

    @staticmethod
    def log_f(state: ChainState, beta: float) -> torch.Tensor:
        return (1.0 - beta) * state.log_start.double() + beta * state.log_joint.double()

    def transition(self, state: ChainState, beta: float) -> ChainState:
        """One HMC transition (a fresh momentum, `leapfrog` steps, Metropolis correction) leaving f_β invariant."""
        step = self.step if self.step_sizes is None else self.step_sizes.at(beta)
        if self.step_sizes is None:
            self.recorded_betas.append(beta)
            self.recorded_sizes.append(step[0, :, 0])
        momentum = torch.randn_like(state.u)
        energy = -self.log_f(state, beta) + 0.5 * momentum.double().pow(2).sum(-1)
        proposal, p = state, momentum + 0.5 * step * state.grad(beta)
        for i in range(self.settings.leapfrog):
            proposal = self.evaluate(proposal.u + step * p)
            p = p + (step if i < self.settings.leapfrog - 1 else 0.5 * step) * proposal.grad(beta)
        proposed_energy = -self.log_f(proposal, beta) + 0.5 * p.double().pow(2).sum(-1)
        log_accept = (energy - proposed_energy).clamp(max=0.0)
        log_accept = torch.where(torch.isnan(log_accept), torch.full_like(log_accept, -math.inf), log_accept)
        accept_probability = log_accept.exp()  # (K, N)
        accept = torch.rand_like(accept_probability) < accept_probability
        self.acceptance.append(accept_probability.mean(0))
        if self.step_sizes is None:  # the pilot: each image's step toward the target acceptance
            above = accept_probability.mean(0)[None, :, None] > self.settings.target_acceptance
            self.step = torch.where(above, step * self.settings.adapt, step / self.settings.adapt)
        return proposal.where(accept, state)

    def anneal(self, u: torch.Tensor, betas: torch.Tensor, bar: str | None = None) -> torch.Tensor:
        """log w (K, N), float64, of chains started at u (distributed as f_{β_0}) and moved along betas."""
        betas = [float(b) for b in betas]
        state = self.evaluate(u)
        log_w = torch.zeros(state.log_joint.shape, dtype=torch.float64, device=u.device)
        steps = range(1, len(betas))
        for t in (progress_bar(steps, bar) if bar else steps):
            log_w = log_w + (betas[t] - betas[t - 1]) * (state.log_joint.double() - state.log_start.double())
            if t < len(betas) - 1:  # the last distribution's transition would not change the weight
                state = self.transition(state, betas[t])
        return log_w

    def recorded(self) -> StepSizes:
        """The pilot's step sizes along β (ordered by β)."""
        betas = torch.tensor(self.recorded_betas, dtype=torch.float64)
        order = betas.argsort(stable=True)  # of equal βs (the warm-up's), the latest size is read
        return StepSizes(betas[order], torch.stack(self.recorded_sizes)[order])

    def acceptance_rate(self) -> torch.Tensor:
        """Mean acceptance probability per image over the transitions so far, (N,)."""
        if not self.acceptance:
            return torch.full((self.path.images,), float("nan"))
        return torch.stack(self.acceptance).mean(0).cpu()


def _log_mean_exp(log_w: torch.Tensor) -> torch.Tensor:
    return log_w.logsumexp(0) - math.log(log_w.shape[0])


def _pilot(path: AnnealingPath, settings: AISSettings, whitening) -> StepSizes:
    """Step sizes along β from a pilot run with its own chain per image (its weights are thrown away). It first
    adapts at β = 0 for PILOT_WARMUP transitions, so that the first βs get an adapted step too."""
    pilot = AnnealedSampler(path, settings, whitening)
    betas = torch.cat([torch.zeros(PILOT_WARMUP, dtype=torch.float64), annealing_schedule(settings.pilot_steps, settings.schedule)])
    pilot.anneal(pilot.to_u(path.draw_start(1)), betas)
    return pilot.recorded()


# ----------------------------------------------------------------------------------------------- the estimators


def ais_log_likelihood(model, guide, data: torch.Tensor, settings: AISSettings = AISSettings(),
                       bar: str | None = None) -> dict[str, torch.Tensor]:
    """AIS estimate of log p(x_n) for each datum (a stochastic lower bound): {'log_px': (N,), 'acceptance': (N,)}.

    `data` holds N data along its first dim, as the programs' first argument (images as (N, J, C, H, W) views).

    >>> ais_log_likelihood(model, guide, views, AISSettings(steps=1000, chains=4))["log_px"]
    """
    results = {"log_px": [], "acceptance": []}
    betas = annealing_schedule(settings.steps, settings.schedule)
    with density_only():
        for first in range(0, len(data), settings.batch_size):
            _ais_batch(model, guide, data[first : first + settings.batch_size], settings, betas, bar, results)
    return {key: torch.cat(value) for key, value in results.items()}


def _ais_batch(model, guide, data, settings, betas, bar, results) -> None:
    path = AnnealingPath(model, guide, data, settings.start)
    whitening = path.whitening()
    sampler = AnnealedSampler(path, settings, whitening, _pilot(path, settings, whitening))
    log_w = sampler.anneal(sampler.to_u(path.draw_start(settings.chains)), betas, bar)
    results["log_px"].append(_log_mean_exp(log_w).cpu())
    results["acceptance"].append(sampler.acceptance_rate())


@torch.no_grad()
def simulate(model, like: torch.Tensor, n: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """n data drawn from the model, z ~ p(z), x ~ p(x | z), shaped like `like` (whose first dim is ignored), with
    their exact latent values {site: (n, *shape)}. The model must observe one site: data that several observed
    sites see at once (selfVAE's downscaled copies of one image) cannot be drawn site by site."""
    shape_holder = like[:1].expand(n, *like.shape[1:]).clone()
    observed = observed_site(model, shape_holder)
    trace = poutine.trace(poutine.uncondition(model)).get_trace(shape_holder)
    latents = {name: site["value"] for name, site in trace.nodes.items()
               if is_density_site(site) and name != observed}
    return trace.nodes[observed]["value"].reshape(n, *like.shape[1:]), latents


@torch.no_grad()
def observed_site(model, data: torch.Tensor) -> str:
    """The name of the model's one observed site; a model with several (selfVAE observes downscaled copies of the
    image beside it) cannot be simulated from site by site, so BDMC refuses it."""
    with density_only():
        trace = _trace_or_refuse(model, data[:2], "BDMC simulates data from the model, which cannot draw its prior")
        observed = [name for name, site in trace.nodes.items() if is_density_site(site) and site["is_observed"]]
    if len(observed) != 1:
        raise ConfigError(f"BDMC simulates data by sampling the model's observed site, but this model observes "
                          f"{len(observed)} sites ({', '.join(observed)}), which are not drawn independently; "
                          f"leave BDMC out (--bdmc-images 0)")
    return observed[0]


def bdmc(model, guide, like: torch.Tensor, n: int, settings: AISSettings = AISSettings(),
         bar: str | None = None) -> dict[str, torch.Tensor]:
    """Bidirectional Monte Carlo on n data simulated from the model: forward AIS gives a stochastic lower bound
    and reverse AIS from the exact latents a stochastic upper bound on each log p(x_n); each (N,).

    Returns {'lower', 'upper', 'gap', 'acceptance'}; the true log p(x_n) lies between lower and upper in expectation.
    Both directions use the same pilot's step sizes, so the reverse chain's kernels are the forward chain's.
    """
    betas = annealing_schedule(settings.steps, settings.schedule)
    out = {"lower": [], "upper": [], "acceptance": []}
    with density_only():
        x, exact = simulate(model, like, n)
        for first in range(0, n, settings.batch_size):
            _bdmc_batch(model, guide, x[first : first + settings.batch_size],
                        {name: value[first : first + settings.batch_size] for name, value in exact.items()}, settings, betas, bar, out)
    result = {key: torch.cat(value) for key, value in out.items()}
    result["gap"] = result["upper"] - result["lower"]
    return result


def _bdmc_batch(model, guide, x, exact, settings, betas, bar, out) -> None:
    path = AnnealingPath(model, guide, x, settings.start)
    whitening = path.whitening()
    step_sizes = _pilot(path, settings, whitening)
    forward = AnnealedSampler(path, settings, whitening, step_sizes)
    out["lower"].append(_log_mean_exp(forward.anneal(forward.to_u(path.draw_start(settings.chains)), betas, bar)).cpu())
    # the exact latents are a draw from the posterior f_T: every chain of an image starts from them
    truth = {name: value.expand(settings.chains, *value.shape) for name, value in exact.items()}
    reverse = AnnealedSampler(path, settings, whitening, step_sizes)
    log_w_reverse = reverse.anneal(reverse.to_u(path.layout.pack(truth)), betas.flip(0), bar)
    out["upper"].append(-_log_mean_exp(log_w_reverse).cpu())  # E[w] = 1/p(x)
    out["acceptance"].append(forward.acceptance_rate())


# ------------------------------------------------------------------------------------------ a fitted run's report


def held_out_ais(system, images: torch.Tensor, settings: AISSettings, bdmc_images: int = 0,
                 progress: bool = False) -> dict[str, float]:
    """AIS test NLL of a fitted system on uint8 images (N, C, H, W), beside the importance-weighted NLL with as many
    log p(x, z) evaluations per image, and (bdmc_images > 0) the BDMC bounds on data simulated from the model."""
    require_a_likelihood(system)
    if settings.start == "guide" and not system.has_density:
        raise ConfigError("AIS from the guide needs q(z | x), but this run's guide (delta) has no density; "
                          "use --ais-start prior")
    views = test_views(system, images)
    if bdmc_images:
        observed_site(system.model, views)  # refused before the long AIS run, not after
    dims, discrete = math.prod(images.shape[1:]), system.model.likelihood.discrete
    began = time.perf_counter()
    ais = ais_log_likelihood(system.model, system.guide, views, settings, bar="AIS" if progress else None)
    seconds = time.perf_counter() - began
    nll = float(-ais["log_px"].double().mean())
    iw_samples = settings.evaluations_per_image
    metrics = {"ais_test_nll": nll, "ais_test_bpd": bits_per_dim(nll, dims, discrete), "ais_images": len(images),
               "ais_steps": settings.steps, "ais_chains": settings.chains, "ais_leapfrog": settings.leapfrog,
               "ais_start": settings.start, "ais_acceptance": float(ais["acceptance"].mean()), "ais_seconds": seconds,
               "ais_evaluations_per_image": iw_samples}
    if system.has_density:  # the importance-weighted estimate with as many evaluations of log p(x, z)
        began = time.perf_counter()
        iw = importance_weighted_nll(system.model, system.guide, views, num_samples=iw_samples)
        metrics.update({"iw_test_nll_same_evaluations": float(-iw.double().mean()),
                        "iw_seconds_same_evaluations": time.perf_counter() - began})
    if bdmc_images:
        sandwich = bdmc(system.model, system.guide, views, bdmc_images, settings, bar="BDMC" if progress else None)
        metrics.update({"bdmc_images": bdmc_images, "bdmc_lower": float(sandwich["lower"].double().mean()),
                        "bdmc_upper": float(sandwich["upper"].double().mean()),
                        "bdmc_gap": float(sandwich["gap"].double().mean())})
    return metrics
