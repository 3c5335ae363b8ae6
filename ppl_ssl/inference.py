"""Objectives for SVI, used as ordinary `nn.Module` losses (Pyro's `ELBO(...)(model, guide)` with module-local params).

`TermTrace_ELBO` is Pyro's `Trace_ELBO` that also keeps the decomposition of its last estimate — reconstruction
(log-likelihood of the observed sites), log prior (latent sites of the model) and entropy estimate (−log q of the
guide's sites) — unscaled by β, so the logged `elbo` is the model's true ELBO while `loss` is what is optimised.
"""
from __future__ import annotations

import pyro
import torch
from pyro.infer import Trace_ELBO

from ppl_ssl.registry import OBJECTIVES

pyro.settings.set(module_local_params=True)  # parameters live in the nn.Modules, not Pyro's global store


def _unscaled(site: dict) -> torch.Tensor:
    return site["log_prob_sum"].detach() / site["scale"]


class TermTrace_ELBO(Trace_ELBO):
    """Trace_ELBO recording the ELBO's terms (summed over the batch, averaged over particles)."""

    def differentiable_loss(self, model, guide, *args, **kwargs):
        self._terms = {"reconstruction": 0.0, "log_prior": 0.0, "entropy": 0.0}
        loss = super().differentiable_loss(model, guide, *args, **kwargs)
        terms = {k: v / self.num_particles for k, v in self._terms.items()}
        terms["elbo"] = terms["reconstruction"] + terms["log_prior"] + terms["entropy"]
        terms["loss"] = loss.detach()
        self.last_terms = terms
        return loss

    def _differentiable_loss_particle(self, model_trace, guide_trace):
        for site in model_trace.nodes.values():
            if site["type"] == "sample":
                key = "reconstruction" if site["is_observed"] else "log_prior"
                self._terms[key] = self._terms[key] + _unscaled(site)
        for site in guide_trace.nodes.values():
            if site["type"] == "sample":
                self._terms["entropy"] = self._terms["entropy"] - _unscaled(site)
        return super()._differentiable_loss_particle(model_trace, guide_trace)


@OBJECTIVES.register("elbo", summary="Trace_ELBO (reparameterised Monte Carlo ELBO, train.particles samples)")
def build_elbo(config) -> TermTrace_ELBO:
    return TermTrace_ELBO(num_particles=config.train.particles, vectorize_particles=False,
                          max_plate_nesting=2)
