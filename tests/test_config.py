"""Declarative config: presets, overrides, round-trips and one-line errors that name the key and its source."""
import pytest

import ppl_ssl
from ppl_ssl.config import build_config, load_config, preset_names
from ppl_ssl.errors import ConfigError


def test_every_preset_resolves_and_round_trips_through_its_file(tmp_path):
    for name in preset_names():
        config = build_config(name)
        config.save(tmp_path / f"{name}.toml")
        assert load_config(tmp_path / f"{name}.toml") == config


def test_presets_define_the_papers_models():
    vae, beta, sim = build_config("vae"), build_config("beta-vae"), build_config("simvae")
    assert (vae.model.views, vae.model.prior.kind, vae.objective.options.beta) == (1, "standard_normal", 1.0)
    assert beta.objective.options.beta == 0.2 and beta.model.views == 1
    assert (sim.model.views, sim.model.prior.kind, sim.model.prior.options.sigma2) == (10, "ssl_group", 0.15)
    assert sim.model.likelihood.options.variance == 0.02 and sim.nets.kind == "mlp" and sim.model.latent_dim == 10
    # Table 2 augmentation of the dataset comes in beneath the preset
    assert sim.augment.crop_scale == [0.4, 1.0] and sim.augment.vflip == 0.5
    cifar = build_config("simvae", {"data.dataset": "cifar10"})
    assert cifar.nets.kind == "resnet" and cifar.model.latent_dim == 64 and cifar.augment.hue == 0.2


def test_presets_define_the_comparison_methods():
    crvae, simclr, moco, vicreg = (build_config(n) for n in ("crvae-contrastive", "simclr", "mocov2", "vicreg"))
    assert (crvae.method.kind, crvae.model.program.kind, crvae.model.views) == ("svi", "crvae_contrastive", 2)
    options = crvae.model.program.options
    assert (options.gamma, options.temperature, options.queue_size, options.momentum, options.query) == (1.0, 0.1, 4096, 0.99, "sample")
    assert (simclr.method.kind, simclr.method.options.temperature) == ("simclr", 0.7)
    assert (moco.method.options.temperature, moco.method.options.queue_size, moco.method.options.momentum) == (0.2, 4096, 0.99)
    assert (vicreg.method.options.invariance, vicreg.method.options.variance, vicreg.method.options.covariance) == (25, 25, 1)
    assert build_config("vae").method.kind == "svi"  # the default: model + guide fitted by SVI


def test_a_component_given_by_its_kind_alone_takes_options_later():
    config = build_config("vae", assignments=["model.program=crvae_contrastive", "model.program.gamma=0.25", "model.views=2"])
    assert config.model.program.kind == "crvae_contrastive" and config.model.program.options.gamma == 0.25
    assert build_config("crvae-contrastive", assignments=["model.program=ssl"]).model.program.options is None  # a new kind: options reset
    switched = build_config("simclr", assignments=["method.kind=mocov2"])
    assert switched.method.kind == "mocov2" and switched.method.options.temperature == 0.2  # SimCLR's 0.7 did not leak


def test_overrides_flags_then_set():
    config = build_config("simvae", {"train.epochs": 3, "model.views": 4}, ["objective.beta=0.5", "train.lr=1e-4", "model.views=6"])
    assert (config.train.epochs, config.model.views, config.objective.options.beta, config.train.lr) == (3, 6, 0.5, 1e-4)


def test_changing_a_component_kind_drops_the_old_kinds_options():
    config = build_config("simvae", None, ["model.prior.kind=standard_normal"])
    assert config.model.prior.kind == "standard_normal" and config.model.prior.options is None
    config = build_config("vae", None, ["model.prior.kind=ssl_group", "model.prior.gamma=3.0"])
    assert config.model.prior.options.gamma == 3.0 and config.model.prior.options.sigma2 == 0.15


@pytest.mark.parametrize("assignment, words", [
    ("model.foo=1", ["unknown key 'model.foo'", "--set", "allowed keys in model", "views"]),
    ("objective.beta='abc'", ["objective.beta expects a number", "'abc'", "--set"]),
    ("objective.kind=nope", ["objective.kind = 'nope'", "not a known objective", "elbo, iwae"]),
    ("model.views=0", ["model.views = 0", "at least 1"]),
    ("model.prior.kind=nope", ["not a known prior", "ssl_group", "standard_normal"]),
    ("model.prior.sigma2=-1", ["model.prior.sigma2", "positive"]),
    ("data.dataset=imagenet", ["not a known dataset", "fashion-mnist"]),
    ("train.device=tpu", ["train.device", "auto, cpu, cuda"]),
    ("model.prior.nope=1", ["unknown key 'model.prior.nope'", "sigma2, gamma"]),
    ("train.epochs=2.5", ["train.epochs expects an integer"]),
    ("novalue", ["KEY=VALUE"]),
])
def test_bad_values_give_one_line_errors(assignment, words):
    with pytest.raises(ConfigError) as err:
        build_config("simvae", None, [assignment])
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_unknown_model_lists_the_presets():
    with pytest.raises(ConfigError, match="unknown model preset 'nope'.*simvae.*vae"):
        build_config("nope")


def test_errors_in_a_preset_file_name_the_file(tmp_path):
    preset = tmp_path / "mine.toml"
    preset.write_text('[preset]\nextends = "simvae"\n[model]\nviews = 4\nbogus = 1\n')
    with pytest.raises(ConfigError) as err:
        build_config(str(preset))
    assert "unknown key 'model.bogus'" in str(err.value) and str(preset) in str(err.value)
    preset.write_text('[preset]\nextends = "simvae"\n[model]\nviews = 4\n')
    assert build_config(str(preset)).model.views == 4


def test_public_api_is_reachable_from_the_package():
    assert callable(ppl_ssl.load_run) and callable(ppl_ssl.models.ssl_model) and callable(ppl_ssl.guides.mean_field_guide)


def test_a_component_option_set_through_its_section_reaches_the_one_component_that_has_it():
    assert ppl_ssl.build_config("selfvae-hier", {}, ["model.levels=4"]).model.program.options.levels == 4  # the spelling
    assert ppl_ssl.build_config("crvae-contrastive", {}, ["model.gamma=0.5"]).model.program.options.gamma == 0.5
    assert ppl_ssl.build_config("vae", {}, ["model.latent_dim=3"]).model.latent_dim == 3  # a section's own key wins
    with pytest.raises(ConfigError, match="model.likelihood.components or model.program.components|model.program.components or model.likelihood.components"):
        ppl_ssl.build_config("selfvae-hier", {}, ["model.likelihood=logistic_mixture", "model.components=3"])
    with pytest.raises(ConfigError, match="unknown key 'model.foo'"):
        ppl_ssl.build_config("selfvae-hier", {}, ["model.foo=1"])


@pytest.mark.parametrize("assignment", ["augment.crop_scale=[-0.5, 1.0]", "augment.crop_scale=[]", "augment.crop_scale=[0.8, 0.4]",
                                        "augment.crop_scale=[0.4, 1.5]", "augment.crop_ratio=[2, 1]", "augment.crop_ratio=[0, 1]"])
def test_a_crop_range_that_would_train_on_nothing_is_refused(assignment):
    with pytest.raises(ConfigError, match=assignment.split("=")[0].replace(".", r"\.") + ".*must be"):
        build_config("vae", {}, [assignment])
