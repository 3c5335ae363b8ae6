"""Inference programs: the Pyro guides (installed as `ppl_ssl.guides`). Chosen by `guide.kind`."""
from ppl_ssl.guides.delta import DeltaGuide, delta_guide
from ppl_ssl.guides.flows import FlowGuide, flow_guide
from ppl_ssl.guides.hamiltonian import HamiltonianGuide, hamiltonian_guide
from ppl_ssl.guides.riemannian_hamiltonian import RiemannianHamiltonianGuide, riemannian_hamiltonian_guide
from ppl_ssl.guides.hyperspherical import VonMisesFisherGuide, von_mises_fisher_guide
from ppl_ssl.guides.poincare import PoincareWrappedNormalGuide, wrapped_normal_guide
from ppl_ssl.guides.mean_field import AmortisedGuide, MeanFieldGuide, amortised_normal, mean_field_guide
from ppl_ssl.guides.selfvae import SelfVAEGuide, selfvae_guide

__all__ = ["AmortisedGuide", "DeltaGuide", "FlowGuide", "MeanFieldGuide", "amortised_normal", "delta_guide", "flow_guide", "mean_field_guide",
           "SelfVAEGuide", "selfvae_guide", "VonMisesFisherGuide", "von_mises_fisher_guide",
           "PoincareWrappedNormalGuide", "wrapped_normal_guide", "HamiltonianGuide", "hamiltonian_guide",
           "RiemannianHamiltonianGuide", "riemannian_hamiltonian_guide"]
