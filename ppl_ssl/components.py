"""The catalogue: importing this module registers every component, so each registry knows every name.

Only component modules are listed: they import torch and Pyro, never scikit-learn or matplotlib (evaluation and
figures load those when they run).
"""
from ppl_ssl import baselines, inference, likelihoods, nets, optim, priors, samplers, system  # noqa: F401
from ppl_ssl.data import datasets  # noqa: F401
from ppl_ssl.guides import delta, flows, hamiltonian, hyperspherical, mean_field, poincare, riemannian_hamiltonian, selfvae  # noqa: F401
from ppl_ssl.models import crvae_consistency, crvae_contrastive, hvae, infovae, msssim_vae, rhvae, ssl, vaegan  # noqa: F401
from ppl_ssl.models import selfvae as selfvae_program  # noqa: F401
from ppl_ssl.registry import ALL
from ppl_ssl.selfvae import level_nets, transforms  # noqa: F401
from ppl_ssl.selfvae.level_nets import ARCHITECTURES

REGISTRIES = (*ALL, ARCHITECTURES)
