"""VAEGAN (models/vaegan.py, ppl_ssl.divergences.ImageDiscriminator): one loss whose gradients are Larsen et al.'s
three training rules, each reaching only what it trains."""
import pyro.poutine as poutine
import pytest
import torch

from ppl_ssl.errors import ConfigError
from ppl_ssl.models.vaegan import equilibrium_gates
from ppl_ssl.system import build_system
from tests.conftest import tiny_config

ALPHA, LAYER = 0.3, 2


def discriminator_loss(discriminator, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """L_D = BCE(D(real), 1) + BCE(D(fake), 0), each a mean over its images (Pythae's)."""
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    real_logit, fake_logit = discriminator.logit(real), discriminator.logit(fake)
    return bce(real_logit, torch.ones_like(real_logit)) + bce(fake_logit, torch.zeros_like(fake_logit))


def grads(loss: torch.Tensor, module: torch.nn.Module) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, list(module.parameters()), retain_graph=True, allow_unused=True))


def _loss_and_rules(*settings, seed=0, variance=1.0):
    """The program's loss for one batch, and Larsen et al.'s three rules computed by hand (Pythae's VAEGAN), on the
    same draws: {module: the loss its rule trains it by}."""
    torch.manual_seed(seed)
    system = build_system(tiny_config("vaegan", "augment.enabled=false", f"model.program.adversarial_weight={ALPHA}",
                                      f"model.program.feature_layer={LAYER}",
                                      "model.program.discriminator_channels=[4, 8, 16]",
                                      f"model.program.feature_variance={variance}", *settings), (1, 8, 8))
    model, guide = system.model, system.guide
    views = torch.rand(6, 1, 1, 8, 8)
    n = len(views)
    guide_trace = poutine.trace(guide).get_trace(views)
    torch.manual_seed(7)  # the model's one random call: its prior draws for the discriminator
    model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(views)
    loss = -(model_trace.log_prob_sum() - guide_trace.log_prob_sum())

    torch.manual_seed(7)
    fakes = model.likelihood.mean(model.decoder(model.prior(1).sample((n,)))).flatten(0, 1)
    z = guide_trace.nodes["z"]["value"]
    images = views.flatten(0, 1)
    features = lambda x: model.discriminator.features(x, LAYER)  # noqa: E731
    decoded = model.likelihood.mean(model.decoder(z)).flatten(0, 1)
    l_llike = (features(images) - features(decoded)).pow(2).sum() / (2 * variance)  # −log N(·, σ² I) + const
    kl = (guide_trace.nodes["z"]["fn"].log_prob(z) - model.prior(1).log_prob(z)).sum()
    l_d = n * discriminator_loss(model.discriminator, images, fakes)
    rules = {"encoder": (guide.encoder, kl + l_llike), "decoder": (model.decoder, (1 - ALPHA) * l_llike - ALPHA * l_d),
             "discriminator": (model.discriminator, l_d)}
    return loss, rules


def _assert_trained_by(loss, module, rule):
    """The loss's gradient on the module's parameters is the rule's (zero where the rule is None: the part pauses)."""
    got = grads(loss, module)
    for got_one, expected in zip(got, grads(rule, module) if rule is not None else [None] * len(got)):
        expected = torch.zeros_like(got_one) if expected is None else expected
        assert torch.allclose(got_one, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("variance", [1.0, 0.5])  # Larsen et al.'s and Pythae 0.1.2's; Pythae's earlier code's
def test_each_part_gets_the_gradient_of_its_own_training_rule(variance):
    loss, rules = _loss_and_rules("model.program.margin=100", variance=variance)  # a margin no cost leaves: no pause
    for module, rule in rules.values():
        _assert_trained_by(loss, module, rule)


@pytest.mark.parametrize("equilibrium, margin, paused", [(10.0, 0.1, "discriminator"), (0.0, 0.0, "decoder")])
def test_a_part_outside_the_equilibrium_band_pauses_and_the_others_train_by_their_rules(equilibrium, margin, paused):
    # D's costs (BCEs: positive, a few at most) are below 10 − 0.1, so D pauses; or above 0 + 0, so the decoder pauses
    loss, rules = _loss_and_rules(f"model.program.equilibrium={equilibrium}", f"model.program.margin={margin}")
    for name, (module, rule) in rules.items():
        _assert_trained_by(loss, module, None if name == paused else rule)


@pytest.mark.parametrize("kl_kind", ["monte_carlo", "closed_form"])
def test_validation_watches_the_sum_of_the_three_parts_losses(kl_kind):
    """The loss's value mixes routing terms; validation watches Pythae's KL + (2 − α) L_llike + (1 − α) L_D, on the
    same draws (the guide's noise, then the prior draws for D)."""
    system = build_system(tiny_config("vaegan", "augment.enabled=false", f"model.program.adversarial_weight={ALPHA}",
                                      f"model.program.feature_layer={LAYER}", f"objective.kl='{kl_kind}'",
                                      "model.program.discriminator_channels=[4, 8, 16]"), (1, 8, 8))
    model, guide = system.model, system.guide
    views = torch.rand(6, 1, 1, 8, 8)
    torch.manual_seed(3)
    watched = system.validation_loss(views)
    torch.manual_seed(3)
    guide_trace = poutine.trace(guide).get_trace(views)
    fakes = model.likelihood.mean(model.decoder(model.prior(1).sample((6,)))).flatten(0, 1)
    z, images = guide_trace.nodes["z"]["value"], views.flatten(0, 1)
    features = lambda x: model.discriminator.features(x, LAYER)  # noqa: E731
    l_llike = (features(images) - features(model.likelihood.mean(model.decoder(z)).flatten(0, 1))).pow(2).sum() / 2
    q, p = guide_trace.nodes["z"]["fn"], model.prior(1)
    kl = (torch.distributions.kl_divergence(q, p) if kl_kind == "closed_form" else q.log_prob(z) - p.log_prob(z)).sum()
    l_d = 6 * discriminator_loss(model.discriminator, images, fakes)
    assert torch.allclose(watched, kl + (2 - ALPHA) * l_llike + (1 - ALPHA) * l_d, rtol=1e-5)
    torch.manual_seed(3)
    assert not torch.allclose(watched, system.training_loss(views)[0], rtol=1e-3)  # the loss's value is another number


def test_the_gates_follow_pythaes_equilibrium_rule():
    gates = lambda real, prior: tuple(float(g) for g in equilibrium_gates(torch.tensor(real), torch.tensor(prior),  # noqa: E731
                                                                          0.68, 0.4))
    assert gates(0.7, 0.6) == (1.0, 1.0)  # both costs inside [0.28, 1.08]
    assert gates(0.2, 0.7) == (0.0, 1.0) and gates(0.7, 0.1) == (0.0, 1.0)  # D too good: it pauses
    assert gates(1.2, 0.7) == (1.0, 0.0) and gates(0.5, 2.0) == (1.0, 0.0)  # D too weak: the decoder pauses
    assert gates(0.1, 2.0) == (1.0, 1.0)  # both would pause: both train


def test_vaegan_has_no_likelihood_of_images_and_checks_its_feature_layer():
    from ppl_ssl.evaluation.likelihood import held_out_log_likelihood

    torch.manual_seed(0)
    system = build_system(tiny_config("vaegan", "model.program.discriminator_channels=[4, 8]",
                                      "model.program.feature_layer=1"), (1, 8, 8))
    with pytest.raises(ConfigError, match="no log p\\(x\\) to estimate"):
        held_out_log_likelihood(system, (255 * torch.rand(3, 1, 8, 8)).to(torch.uint8), 4)
    with pytest.raises(ConfigError, match="feature_layer = 3 is deeper than the discriminator's 2 hidden layers"):
        build_system(tiny_config("vaegan", "model.program.discriminator_channels=[4, 8]", "model.program.feature_layer=3"),
                     (1, 8, 8))


def test_the_discriminator_refuses_images_too_small_for_its_layers():
    with pytest.raises(ConfigError, match="needs images of at least 16×16 pixels, not 8×8; give "
                                          "model.program.discriminator_channels at most 3 entries"):
        build_system(tiny_config("vaegan"), (1, 8, 8))


@pytest.mark.parametrize("equilibrium, margin, paused", [(10.0, 0.1, "discriminator"), (0.0, 0.0, "decoder"),
                                                         (0.68, 100.0, None)])
def test_the_training_step_leaves_a_paused_part_as_it_was(equilibrium, margin, paused):
    from ppl_ssl.train.setup import build_train_step

    torch.manual_seed(0)
    config = tiny_config("vaegan", "augment.enabled=false", "model.program.discriminator_channels=[4, 8, 16]",
                         f"model.program.equilibrium={equilibrium}", f"model.program.margin={margin}")
    step = build_train_step(config, (1, 16, 16), torch.device("cpu"))
    model = step.system.model
    parts = {"discriminator": model.discriminator, "decoder": model.decoder, "encoder": step.system.guide.encoder}
    before = {name: [p.detach().clone() for p in part.parameters()] for name, part in parts.items()}
    step((255 * torch.rand(6, 1, 16, 16)).to(torch.uint8))
    for name, part in parts.items():
        same = all(torch.equal(p, q) for p, q in zip(part.parameters(), before[name]))
        assert same == (name == paused), name  # the paused part did not move; every other part did
    if paused is not None:  # nor did its optimiser state age: no step counted, no moment kept
        state = step.optimiser.state[next(parts[paused].parameters())]
        assert float(state["step"]) == 0 and not state["exp_avg"].any()
