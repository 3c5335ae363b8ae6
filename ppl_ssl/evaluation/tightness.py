"""How tight each test NLL is: the importance-weighted estimate at growing K, AIS at growing T, and the BDMC
sandwich on data simulated from the model, all on the same test images of one fitted run.

IW_K for every K comes from one set of K_max draws per image, split into K_max / K disjoint groups whose bounds
are averaged (so each K's estimate is the mean of independent IW_K estimates, not one noisy draw). An estimate's
compute is its log p(x, z) evaluations per image: K for IW, (K·T + pilot)·leapfrog for AIS, where one AIS
evaluation also takes a gradient (about 2-3 times the cost of IW's); seconds are measured too.
"""
from __future__ import annotations

import math
import time
import dataclasses
from dataclasses import dataclass

import pyro
import torch

from ppl_ssl.evaluation.ais import AISSettings, ais_log_likelihood, bdmc, observed_site
from ppl_ssl.errors import ConfigError
from ppl_ssl.evaluation.likelihood import importance_log_weights, test_views


@dataclass(frozen=True)
class TightnessProtocol:
    """The estimates a likelihood report computes (a reproduction budget holds one)."""

    images: int = 1000                                  # test images of the IW and AIS estimates
    iw_samples: tuple[int, ...] = (1, 10, 100, 1000, 5000)
    ais_steps: tuple[int, ...] = (100, 1000)
    long_steps: int = 10_000                            # one more AIS estimate on the first long_images images
    long_images: int = 100
    bdmc_images: int = 100                              # simulated data of the BDMC sandwich at the largest ais_steps

    def describe(self) -> str:
        return (f"IW with K = {', '.join(map(str, self.iw_samples))} and AIS with T = "
                f"{', '.join(map(str, self.ais_steps))} on {self.images} test images, AIS with T = {self.long_steps} on "
                f"the first {self.long_images}, BDMC at T = {max(self.ais_steps)} on {self.bdmc_images} simulated images")


def iw_curve(log_w: torch.Tensor, samples: tuple[int, ...]) -> dict[int, torch.Tensor]:
    """Per-image IW_K (N,) for each K from log-weights (N, K_max): the mean of K_max // K disjoint IW_K bounds."""
    n, k_max = log_w.shape
    curve = {}
    for k in samples:
        groups = k_max // k
        blocks = log_w[:, : groups * k].double().reshape(n, groups, k)
        curve[k] = (blocks.logsumexp(-1) - math.log(k)).mean(-1)
    return curve


def estimate_tightness(system, images: torch.Tensor, protocol: TightnessProtocol, seed: int = 0,
                       settings: AISSettings = AISSettings(), progress: bool = False) -> dict:
    """All the estimates of `protocol` on uint8 test images (N, C, H, W) of a fitted system.

    Returns {'summary': flat metrics for metrics.json, 'curve': rows (estimator, K or T, images, evaluations per
    image, seconds, NLL) for the NLL-against-compute figure}."""
    views = test_views(system, images[: protocol.images])
    long_views = views[: protocol.long_images]
    simulate_ok = protocol.bdmc_images > 0 and _single_observed_site(system, views)
    pyro.set_rng_seed(seed)
    rows = []

    began = time.perf_counter()
    k_max = max(protocol.iw_samples)
    log_w = importance_log_weights(system.model, system.guide, views, k_max)
    iw_seconds = time.perf_counter() - began
    for k, log_px in iw_curve(log_w, protocol.iw_samples).items():
        rows.append({"estimator": "IW", "size": k, "images": len(views), "evaluations": k,
                     "seconds_per_image": iw_seconds * k / k_max / len(views), "nll": float(-log_px.mean()),
                     "nll_first_long_images": float(-log_px[: protocol.long_images].mean())})

    ais = {}
    for steps in (*protocol.ais_steps, protocol.long_steps):
        on = long_views if steps == protocol.long_steps else views
        step_settings = dataclasses.replace(settings, steps=steps)
        began = time.perf_counter()
        ais[steps] = ais_log_likelihood(system.model, system.guide, on, step_settings,
                                        bar=f"AIS T={steps}" if progress else None)
        seconds = time.perf_counter() - began
        rows.append({"estimator": "AIS", "size": steps, "images": len(on),
                     "evaluations": step_settings.evaluations_per_image, "seconds_per_image": seconds / len(on),
                     "nll": float(-ais[steps]["log_px"].mean()),
                     "nll_first_long_images": float(-ais[steps]["log_px"][: protocol.long_images].mean()),
                     "acceptance": float(ais[steps]["acceptance"].mean())})

    largest = max(protocol.ais_steps)
    by = {(row["estimator"], row["size"]): row for row in rows}
    summary = {
        "likelihood_images": len(views), "likelihood_long_images": len(long_views),
        "iw_nll_elbo": by[("IW", min(protocol.iw_samples))]["nll"], "iw_nll": by[("IW", k_max)]["nll"],
        "ais_nll_short": by[("AIS", min(protocol.ais_steps))]["nll"], "ais_nll": by[("AIS", largest)]["nll"],
        "ais_seconds": by[("AIS", largest)]["seconds_per_image"] * len(views),
        "ais_acceptance": by[("AIS", largest)]["acceptance"],
        "iw_nll_long_images": by[("IW", k_max)]["nll_first_long_images"],
        "ais_nll_long_images": by[("AIS", largest)]["nll_first_long_images"],
        "ais_nll_long": by[("AIS", protocol.long_steps)]["nll"],
        "likelihood_protocol": protocol.describe(),
    }
    if simulate_ok:
        sandwich = bdmc(system.model, system.guide, views, protocol.bdmc_images,
                        dataclasses.replace(settings, steps=largest), bar="BDMC" if progress else None)
        summary.update({"bdmc_lower": float(sandwich["lower"].mean()), "bdmc_upper": float(sandwich["upper"].mean()),
                        "bdmc_gap": float(sandwich["gap"].mean()), "bdmc_images": protocol.bdmc_images})
    return {"summary": summary, "curve": rows}


def _single_observed_site(system, views: torch.Tensor) -> bool:
    """Whether data can be simulated for BDMC (selfVAE's several observed sites cannot)."""
    try:
        observed_site(system.model, views)
        return True
    except ConfigError:
        return False
