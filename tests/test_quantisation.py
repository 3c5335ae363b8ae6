"""VQ-VAE (models/autoencoders.py, guides/delta.py, ppl_ssl/quantisation.py): the codebook's nearest entries and
straight-through gradient, the loss against a hand computation, and what each term trains."""
import math

import pytest
import torch

from ppl_ssl.errors import ConfigError
from ppl_ssl.quantisation import Codebook
from ppl_ssl.system import build_system
from tests.conftest import tiny_config


def test_nearest_entries_and_the_straight_through_gradient():
    torch.manual_seed(0)
    codebook = Codebook(7, 3)
    z = torch.randn(5, 2, 3, requires_grad=True)
    brute = codebook.entries[torch.cdist(z.reshape(-1, 3), codebook.entries).argmin(-1)].reshape(z.shape)
    assert torch.equal(codebook.nearest(z), brute)
    quantised = codebook.straight_through(z)
    assert torch.allclose(quantised, brute, atol=1e-6)  # z + (e − z) in floating point
    (quantised * torch.arange(30.0).reshape(5, 2, 3)).sum().backward()
    assert torch.equal(z.grad, torch.arange(30.0).reshape(5, 2, 3))  # the identity's gradient
    assert codebook.entries.grad is None  # the reconstruction never moves the entries


def _system(*assignments: str):
    torch.manual_seed(0)
    return build_system(tiny_config("vq-vae", "augment.enabled=false", "model.program.entries=16", *assignments),
                        (1, 8, 8)).train()


def test_the_vq_vae_loss_is_reconstruction_of_the_nearest_entry_plus_the_quantisation_losses():
    system = _system()
    images = torch.rand(6, 1, 1, 8, 8)
    loss, _ = system(images)
    with torch.no_grad():
        z_e = system.guide.encoder(images.flatten(0, 1))[0]
        entries = system.model.codebook.nearest(z_e)
        sse = (torch.sigmoid(system.model.decoder(entries)) - images.flatten(0, 1)).pow(2).flatten(1).sum(1)
        squared = (z_e - entries).pow(2).mean()  # both quantisation losses have this value; their gradients differ
    constant = 64 / 2 * math.log(2 * math.pi * 0.5)
    expected = float(sse.sum()) + 6 * constant + 6 * (1.0 + 0.25) * float(squared)
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)


def test_the_entries_learn_from_the_codebook_loss_alone():
    images = torch.rand(8, 1, 1, 8, 8)
    for weight, moves in ((0.0, False), (1.0, True)):
        system = _system(f"model.program.codebook_weight={weight}")
        system.zero_grad()
        system(images)[0].backward()
        grad = system.model.codebook.entries.grad
        assert (grad is not None and bool(grad.abs().sum() > 0)) == moves


def test_the_decoded_codes_and_prior_samples_are_codebook_entries():
    system = _system().eval()
    samples = system.sample_prior(5)
    entries = system.model.codebook.entries
    assert all(bool((entries == code).all(-1).any()) for code in samples[:, 0])
    z_e = system.encode(torch.rand(3, 1, 8, 8))  # the representation: the encoder's codes before quantisation
    assert torch.allclose(system.decode(z_e), system.decode(system.model.codebook.nearest(z_e)))


def test_the_quantising_guide_and_model_need_each_other():
    with pytest.raises(ConfigError, match="set model.program = 'vq_vae'"):
        build_system(tiny_config("ae", "guide.kind='vector_quantised'"), (1, 8, 8))
    with pytest.raises(ConfigError, match="set guide.kind = 'vector_quantised'"):
        build_system(tiny_config("vq-vae", "guide.kind='delta'"), (1, 8, 8))


def test_codes_quantised_in_pieces_take_each_piece_from_the_codebook():
    """entry_dim = 1 (Pythae 0.1.2's quantisation of a flat code): every coordinate is its nearest scalar entry."""
    torch.manual_seed(0)
    scalar = Codebook(5, 4, entry_dim=1)
    z = torch.randn(6, 4)
    by_hand = scalar.entries[:, 0][(z.unsqueeze(-1) - scalar.entries[:, 0]).abs().argmin(-1)]
    assert torch.equal(scalar.nearest(z), by_hand)
    assert scalar.sample(7).shape == (7, 4) and set(scalar.sample(50).flatten().tolist()) <= set(scalar.entries[:, 0].tolist())
    halves = Codebook(5, 4, entry_dim=2)  # two pieces of two: each half one of the 5 two-vectors
    quantised = halves.nearest(z).reshape(6, 2, 2)
    assert all(bool((halves.entries == piece).all(-1).any()) for piece in quantised.reshape(-1, 2))
    system = _system("model.program.entry_dim=1")  # the model takes the option through to its codebook
    assert system.model.codebook.entries.shape == (16, 1) and system.sample_prior(3).shape[-1] == system.model.latent_dim
    with pytest.raises(ConfigError, match="entry_dim = 3 does not divide model.latent_dim"):
        build_system(tiny_config("vq-vae", "model.program.entry_dim=3", "model.latent_dim=4"), (1, 8, 8))
