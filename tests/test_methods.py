"""CR-VAE and the discriminative baselines as trainable systems: they learn, they train through `fit`, the momentum
update follows the optimiser step, and CR-VAE's factor enters its objective where the maths says it does."""
import pyro
import pyro.poutine as poutine
import pytest
import torch

from ppl_ssl.augment import Augmenter
from ppl_ssl.contrastive import info_nce
from ppl_ssl.errors import ConfigError
from ppl_ssl.system import build_system
from ppl_ssl.train.loop import fit
from tests.conftest import tiny_config

IMAGE = (1, 8, 8)


def _fixed_views(config, n=32):
    torch.manual_seed(0)
    images = torch.rand(n, *IMAGE)
    return Augmenter(config.augment, seed=0)(images, config.model.views).images


@pytest.mark.parametrize("preset", ["crvae-contrastive", "crvae-consistency", "simclr", "vicreg", "mocov2"])
def test_loss_decreases_over_20_steps_on_a_fixed_batch(preset):
    config = tiny_config(preset, "model.views=2")
    torch.manual_seed(1)
    system = build_system(config, IMAGE).train()
    optimiser = torch.optim.Adam(system.parameters(), lr=1e-3)
    views, losses = _fixed_views(config), []
    queue = system.contrast.queue if preset == "mocov2" else None
    first_negatives = queue.keys.clone() if queue is not None else None
    for _ in range(20):
        if queue is not None:
            # On one repeated batch MoCo's queue fills with this batch's own keys, which then are (false) negatives
            # and raise the loss; learning shows against the negatives of the first step, so measure it there.
            current = queue.keys.clone()
            queue.keys.copy_(first_negatives)
            with torch.no_grad():
                losses.append(float(system.training_loss(views)[0]))
            queue.keys.copy_(current)
        loss, _ = system.training_loss(views)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        system.after_step()
        if queue is None:
            losses.append(float(loss.detach()))
    assert sum(losses[-3:]) < sum(losses[:3]), losses


def test_fit_moves_the_key_network_after_the_optimiser_step(tmp_path):
    """With momentum 0 the key network is a copy of the online network taken after each step; had the update
    run before the step, it would lag one step behind at the end of training."""
    config = tiny_config("mocov2", "model.views=2", "method.momentum=0.0", "method.queue_size=1000")
    system, _ = fit(config, tmp_path / "run", progress=False)
    online, keys = list(system.query_network.parameters()), list(system.contrast.key_network.parameters())
    assert all(torch.equal(a, b) for a, b in zip(online, keys))
    assert int(system.contrast.queue.pointer) == 256  # every training image's key entered the queue once (8 steps × 32)


def _loss_and_gradients(config):
    """The system's loss, terms and (encoder, decoder) first-layer gradients on fixed views under fixed draws."""
    torch.manual_seed(2)
    system = build_system(config, IMAGE)
    views = _fixed_views(config)
    pyro.set_rng_seed(3)
    loss, terms = system.training_loss(views)
    loss.backward()
    grads = (system.guide.encoder.head.linear.weight.grad.clone(), system.model.decoder.body[0][0].weight.grad.clone())
    return system, views, loss, terms, grads


def test_crvae_factor_reaches_the_encoder_and_not_the_decoder():
    grads = {}
    for gamma in (0.0, 1.0):
        config = tiny_config("crvae-contrastive", "model.views=2", f"model.program.gamma={gamma}")
        _, _, loss, terms, grads[gamma] = _loss_and_gradients(config)
        contrast = float(terms["contrast"])
        assert float(loss.detach()) == pytest.approx(-(float(terms["elbo"]) + contrast), rel=1e-5)  # loss = −(ELBO + factor)
        assert (contrast == 0.0) == (gamma == 0.0) and contrast <= 0.0  # the factor is −γ·InfoNCE ≤ 0
    assert not torch.allclose(grads[0.0][0], grads[1.0][0])  # the InfoNCE term trains the encoder ...
    assert torch.allclose(grads[0.0][1], grads[1.0][1])      # ... and leaves the decoder's gradient alone


@pytest.mark.parametrize("query", ["sample", "mean"])
def test_crvae_query_is_view_ones_code_and_single_views_score_as_a_vae(query):
    config = tiny_config("crvae-contrastive", "model.views=2", f"model.program.query='{query}'")
    system = build_system(config, IMAGE)
    views = _fixed_views(config, n=6)
    guide_trace = poutine.trace(system.guide).get_trace(views)
    model_trace = poutine.trace(poutine.replay(system.model, trace=guide_trace)).get_trace(views)
    contrast = system.model.contrast
    z1 = guide_trace.nodes["z"]["value"][:, 0]
    query_vector = z1 if query == "sample" else system.guide.encoder(views[:, 0])[0]
    factor = model_trace.nodes["contrast"]["fn"].log_factor
    assert factor.shape == (6,) and torch.all(factor <= 0)
    keys = contrast.momentum._pending  # the keys the momentum encoder drew for view 2 in this trace
    momentum = contrast.momentum
    expected = -config.model.program.options.gamma * info_nce(query_vector, keys, momentum.queue.keys, momentum.temperature)
    assert torch.allclose(factor, expected, atol=1e-5)
    single = poutine.trace(system.model).get_trace(views[:, :1])
    assert "contrast" not in single.nodes  # one view: the VAE's own p(x, z), which the NLL evaluates


@pytest.mark.parametrize("preset", ["simclr", "vicreg", "mocov2"])
def test_baselines_represent_with_the_encoder_not_the_projection_head(preset):
    config = tiny_config(preset, "model.views=2")
    system = build_system(config, IMAGE).eval()
    images = torch.rand(5, *IMAGE)
    assert torch.equal(system.encode(images), system.encoder(images)[0])
    assert system.encode(images).shape == (5, config.model.latent_dim)
    assert not system.can_decode and not system.has_density


def test_asking_a_baseline_for_images_names_the_post_hoc_decoder():
    system = build_system(tiny_config("vicreg", "model.views=2"), IMAGE)
    with pytest.raises(ConfigError, match="ppl-ssl decode RUN"):
        system.reconstruct(torch.rand(2, *IMAGE))


# ------------------------------------------------- Sinha & Dieng's consistency-regularised CR-VAE

def _hand_kl(loc_p, scale_p, loc_q, scale_q):
    """KL(N(μp, σp²) ‖ N(μq, σq²)) summed over dimensions, written out: ½ Σ [log σq²/σp² + (σp² + (μp − μq)²)/σq² − 1]."""
    var_p, var_q = scale_p ** 2, scale_q ** 2
    return 0.5 * (torch.log(var_q / var_p) + (var_p + (loc_p - loc_q) ** 2) / var_q - 1).sum(-1)


def test_consistency_factor_is_minus_lambda_times_the_closed_form_kl_of_the_transformed_from_the_original():
    config = tiny_config("crvae-consistency", "model.program.weight=0.1")
    system = build_system(config, IMAGE)
    views = _fixed_views(config, n=5)
    guide_trace = poutine.trace(system.guide).get_trace(views)
    model_trace = poutine.trace(poutine.replay(system.model, trace=guide_trace)).get_trace(views)
    factor = model_trace.nodes["consistency"]["fn"].log_factor
    with torch.no_grad():
        loc_x, scale_x = system.guide.encoder(views[:, 0])        # q(z | x)
        loc_t, scale_t = system.guide.encoder(views[:, 1])        # q(z | t(x))
    expected = -0.1 * _hand_kl(loc_t, scale_t, loc_x, scale_x)
    assert factor.shape == (5,) and torch.all(factor <= 0)
    assert torch.allclose(factor.detach(), expected, rtol=1e-5, atol=1e-6)
    assert "consistency" not in poutine.trace(system.model).get_trace(views[:, :1]).nodes  # one view: the VAE's p(x, z)


def test_consistency_loss_is_the_vaes_two_elbos_plus_lambda_kl_and_the_kl_trains_only_the_encoder():
    losses, grads = {}, {}
    for weight in (0.0, 0.5):
        config = tiny_config("crvae-consistency", f"model.program.weight={weight}")
        system, views, loss, terms, grads[weight] = _loss_and_gradients(config)
        losses[weight] = float(loss.detach())
        with torch.no_grad():
            (loc_x, scale_x), (loc_t, scale_t) = system.guide.encoder(views[:, 0]), system.guide.encoder(views[:, 1])
        kl = float(_hand_kl(loc_t, scale_t, loc_x, scale_x).sum())
        assert float(terms["consistency"]) == pytest.approx(-weight * kl, rel=1e-4, abs=1e-7)  # summed over the batch
    # the same draws: −ELBO(x) − ELBO(t(x)) at λ = 0, plus λ·Σ KL at λ = 0.5
    ulp = torch.finfo(torch.float32).eps * abs(losses[0.0])  # the losses are float32 sums of a few thousand nats
    assert losses[0.5] - losses[0.0] == pytest.approx(0.5 * kl, abs=8 * ulp)
    assert not torch.allclose(grads[0.0][0], grads[0.5][0])
    assert torch.allclose(grads[0.0][1], grads[0.5][1])


def test_original_first_keeps_view_one_the_image_and_draws_the_others_as_without_it():
    from ppl_ssl.augment import AugmentConfig, augment
    torch.manual_seed(0)
    images = torch.rand(6, 1, 8, 8)
    plain = augment(images, 3, AugmentConfig(), torch.Generator().manual_seed(4))
    first = augment(images, 3, AugmentConfig(original_first=True), torch.Generator().manual_seed(4))
    assert torch.equal(first.images[:, 0], images)
    assert torch.equal(first.images[:, 1:], plain.images[:, 1:])
    assert torch.all(first.params["crop_scale"][:, 0] == 1) and torch.all(first.params["vflip"][:, 0] == 0)
    assert torch.equal(first.params["vflip"][:, 1:], plain.params["vflip"][:, 1:])


def test_the_two_cr_vaes_are_never_confused():
    from ppl_ssl.config import build_config
    with pytest.raises(ConfigError, match="crvae-consistency .*crvae-contrastive"):
        build_config("crvae")
    assert build_config("crvae-consistency").model.program.kind == "crvae_consistency"
    assert build_config("crvae-contrastive").model.program.kind == "crvae_contrastive"
    with pytest.raises(ConfigError, match="views ≥ 2"):
        build_system(build_config("crvae-consistency", {"model.views": 1}), IMAGE)


# ------------------------------------------------- the papers' Random and MoCo (v1) rows

def test_random_keeps_the_encoder_exactly_as_the_seed_initialised_it(tmp_path):
    config = tiny_config("random", "train.seed=5")
    from ppl_ssl.runtime import seed_everything
    seed_everything(config.train.seed)  # as fit seeds before it builds
    initial = {k: v.clone() for k, v in build_system(config, IMAGE).state_dict().items()}
    system, _ = fit(config, tmp_path / "run", progress=False)
    trained = system.state_dict()
    assert initial.keys() == trained.keys()
    assert all(torch.equal(initial[k], trained[k].cpu()) for k in initial)  # the seed's weights, untouched by 8 steps
    with pytest.raises(ConfigError, match="weight_decay"):
        build_system(tiny_config("random", "optim.kind='adamw'"), IMAGE)


def test_mocov1_queries_with_the_representation_itself_and_mocov2_through_its_head():
    v1 = build_system(tiny_config("mocov1"), IMAGE)
    v2 = build_system(tiny_config("mocov2"), IMAGE)
    assert len(v1.head) == 0 and v1.contrast.queue.keys.shape[1] == v1.encoder.latent_dim
    assert len(v2.head) > 0 and v2.contrast.queue.keys.shape[1] == 128
    assert v1.contrast.temperature == 0.7 and v2.contrast.temperature == 0.2  # the SimVAE paper's (Appendix A.7.4)
