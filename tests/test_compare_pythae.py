"""The side-by-side check against Pythae (experiments/compare_pythae.py): its verdict and table, without Pythae."""
import importlib.util
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

PATH = Path(__file__).resolve().parents[1] / "experiments" / "compare_pythae.py"


@pytest.fixture(scope="module")
def compare():
    spec = importlib.util.spec_from_file_location("compare_pythae", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["compare_pythae"] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules["compare_pythae"]


def test_a_model_passes_within_two_combined_standard_errors_or_better(compare):
    ours, theirs = [1.0, 1.2, 1.1], [1.0, 1.1, 1.2]  # standard errors 0.058 each: combined 0.082
    assert compare.verdict(ours, theirs, lower_is_better=True)[0]
    worse = [x + 0.2 for x in theirs]  # 0.2 above: 2.45 combined standard errors worse
    ok, gap = compare.verdict(worse, theirs, lower_is_better=True)
    assert not ok and gap == pytest.approx(0.2 / math.sqrt(2 * (0.1 / math.sqrt(3)) ** 2))
    assert compare.verdict(worse, theirs, lower_is_better=False)[0]  # higher is better: ppl-ssl ahead


def test_every_shared_model_builds_in_ppl_ssl_and_the_table_marks_a_difference(compare):
    import ppl_ssl

    for shared in compare.SHARED.values():
        ppl_ssl.build_config(shared.preset, {}, list(shared.assignments))
    row = lambda seed, mse: {"seed": seed, "images_per_second": 100.0, "reconstruction_mse": mse, "fid_gmm": 10.0,  # noqa: E731
                             "linear_probe_accuracy": 0.5, "kmeans_accuracy": 0.5}
    results = {"vae": {"ppl-ssl": [row(1, 0.030), row(2, 0.031)], "pythae": [row(1, 0.020), row(2, 0.0201)]}}
    args = SimpleNamespace(train_subset=5000, epochs=5, lr=1e-3, latent=16, seeds=2)
    text = compare.report(results, args)
    assert "| vae | 30.50 ± 0.50 / 20.05 ± 0.05 ✗ |" in text and text.split("\n")[2].rstrip().endswith("differs |")


def test_parts_run_as_separate_processes_combine_into_one_comparison(compare):
    row = lambda seed: {"seed": seed, "images_per_second": 1.0, "reconstruction_mse": 0.01 * seed}  # noqa: E731
    first = {"iwae": {"ppl-ssl": [row(2), row(1)], "pythae": [row(1)]}}
    second = {"vae": {"ppl-ssl": [row(1)], "pythae": [row(1)]}, "iwae": {"ppl-ssl": [row(1), row(3)], "pythae": []}}
    merged = compare.combine([first, second])
    assert list(merged) == ["vae", "iwae"]  # the shared models' order
    assert [r["seed"] for r in merged["iwae"]["ppl-ssl"]] == [1, 2, 3] and merged["iwae"]["pythae"] == [row(1)]


@pytest.mark.parametrize("discriminator_trains", [True, False])
def test_the_own_gradient_trainer_steps_each_part_by_its_own_loss_where_pythaes_mixes_them(compare, discriminator_trains):
    pytest.importorskip("pythae")
    import torch
    from pythae.trainers import CoupledOptimizerAdversarialTrainer

    def step(trainer_class):  # one SGD step (lr 1) of three scalar parts under three losses that each reach all three
        torch.manual_seed(0)
        parts = [torch.nn.Parameter(torch.randn(())) for _ in range(3)]  # encoder, decoder, discriminator
        a, b, c = parts
        trainer = trainer_class.__new__(trainer_class)  # its step alone: no data, model or training config
        trainer.encoder_optimizer, trainer.decoder_optimizer, trainer.discriminator_optimizer = (
            torch.optim.SGD([w], lr=1.0) for w in parts)
        losses = {"encoder_loss": a * b + c, "decoder_loss": b * c ** 2 + a ** 2 * b,
                  "discriminator_loss": a * b * c + b ** 2}
        start = [w.detach().clone() for w in parts]
        partial = {(name, i): torch.autograd.grad(loss, parts[i], retain_graph=True)[0]  # ∂ loss / ∂ part i
                   for name, loss in losses.items() for i in range(3)}
        trainer._optimizers_step(SimpleNamespace(**losses, update_encoder=True, update_decoder=True,
                                                 update_discriminator=discriminator_trains))
        return start, partial, [w.detach() for w in parts]

    start, partial, after = step(compare.own_gradient_trainer(CoupledOptimizerAdversarialTrainer))
    for i, (name, trains) in enumerate(zip(("encoder_loss", "decoder_loss", "discriminator_loss"),
                                           (True, True, discriminator_trains))):
        assert torch.allclose(after[i], start[i] - partial[name, i] if trains else start[i])

    start, partial, after = step(CoupledOptimizerAdversarialTrainer)  # Pythae 0.1.2's own step
    later = lambda i: partial["discriminator_loss", i] if discriminator_trains else 0  # noqa: E731
    # each part steps by the gradients of its own loss and of every loss backpropagated after it: the encoder by
    # all three (VAEGAN's L_D does not reach it), the decoder by its own and, while D trains, D's
    assert torch.allclose(after[0], start[0] - partial["encoder_loss", 0] - partial["decoder_loss", 0] - later(0))
    assert torch.allclose(after[1], start[1] - partial["decoder_loss", 1] - later(1))


@pytest.mark.parametrize("equilibrium, margin, trains", [(0.68, 0.4, ("decoder", "discriminator")),
                                                          (1.0, 0.1, ("decoder",)),  # D's costs ≈ log 2 < 0.9
                                                          (0.3, 0.1, ("discriminator",))])  # log 2 > 0.4
def test_vaegans_gradient_for_each_part_is_pythaes_own_gradient_rule(compare, equilibrium, margin, trains):
    """ppl-ssl's VAEGAN loss and Pythae's VAEGAN model, on the same weights, images and noise: the gradient that
    reaches the encoder, the decoder and D in ppl-ssl's one loss is, for each part that trains, the gradient of that
    part's own Pythae loss (`own_gradient_trainer`'s rule); both pause the same parts; and the validation loss is
    Pythae's, the sum of its three losses."""
    pytest.importorskip("pythae")
    import copy

    import torch
    from pythae.models import VAEGAN, VAEGANConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseEncoder

    import ppl_ssl
    from ppl_ssl.system import build_system

    shared = compare.SHARED["vaegan"]
    config = ppl_ssl.build_config(shared.preset, {"model.latent_dim": 4}, [
        "augment.enabled=false", "nets.kind='pythae_resnet'", *shared.assignments,
        f"model.program.equilibrium={equilibrium}", f"model.program.margin={margin}",
        "model.program.discriminator_channels=[8, 16, 32]"])
    torch.manual_seed(0)
    system = build_system(config, (1, 28, 28))
    encoder, decoder = copy.deepcopy(system.guide.encoder), copy.deepcopy(system.model.decoder)
    discriminator = copy.deepcopy(system.model.discriminator)

    class Encoder(BaseEncoder):  # ppl-ssl's (loc, scale) as Pythae's (mean, log variance): the same Gaussian
        def forward(self, x):
            loc, scale = encoder(x)
            return ModelOutput(embedding=loc, log_covariance=2 * scale.log())

    settings = dict(shared.pythae_settings, equilibrium=equilibrium, margin=margin)
    theirs = VAEGAN(VAEGANConfig(input_dim=(1, 28, 28), latent_dim=4, reconstruction_loss="mse", **settings),
                    encoder=Encoder(), decoder=compare.pythae_decoder(decoder),
                    discriminator=compare.pythae_discriminator(discriminator))
    images = torch.rand(6, 1, 28, 28)

    torch.manual_seed(1)  # both draw the codes' noise, then the prior draws, from the same stream
    loss, terms = system.training_loss(images.unsqueeze(1))
    watched = system.model.validation_loss(terms) / len(images)
    ours = {"encoder": system.guide.encoder, "decoder": system.model.decoder,
            "discriminator": system.model.discriminator}
    ours = {part: torch.autograd.grad(loss / len(images), list(module.parameters()), retain_graph=True)
            for part, module in ours.items()}
    gates = {part: bool(system.model.gates[part]) for part in ("decoder", "discriminator")}

    torch.manual_seed(1)
    output = theirs({"data": images})
    modules = {"encoder": encoder, "decoder": decoder, "discriminator": discriminator}
    assert gates == {"decoder": output.update_decoder, "discriminator": output.update_discriminator}
    assert tuple(part for part, on in gates.items() if on) == trains
    # what validation watches (`train.keep_best`) is Pythae's: the sum of the three losses
    assert torch.allclose(watched, output.encoder_loss + output.decoder_loss + output.discriminator_loss, atol=1e-4)
    for part in ("encoder", *trains):
        own = torch.autograd.grad(getattr(output, f"{part}_loss"), list(modules[part].parameters()), retain_graph=True)
        for a, b in zip(ours[part], own):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-6), part


def test_every_shared_model_builds_in_pythae_with_its_settings(compare):
    pytest.importorskip("pythae")
    import torch

    for name, shared in compare.SHARED.items():
        model = compare.pythae_model(shared, (1, 28, 28), 16)
        assert type(model).__name__ == shared.pythae_class, name
        for key, value in shared.pythae_settings.items():
            assert getattr(model.model_config, key) == value, (name, key)
        with torch.no_grad():
            codes = model.encoder(torch.rand(2, 1, 28, 28)).embedding
        assert codes.shape == (2, 16), name
