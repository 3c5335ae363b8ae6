"""What made a run's numbers: the digest of its settings and the code's version."""
import hashlib
import json
import re

from ppl_ssl.config import build_config
from ppl_ssl.provenance import code_version, config_digest, same_settings


def test_the_digest_follows_the_settings_that_decide_the_numbers_and_no_others():
    base = config_digest(build_config("vae"))
    assert re.fullmatch(r"[0-9a-f]{12}", base)
    assert config_digest(build_config("vae", {"train.device": "cpu", "train.log_every": 7})) == base
    assert config_digest(build_config("vae", {"data.data_dir": "/elsewhere"})) == base
    for overrides in ({"train.epochs": 3}, {"train.seed": 2}, {"eval.probe_epochs": 3}, {"model.latent_dim": 8}):
        assert config_digest(build_config("vae", overrides)) != base, overrides
    assert config_digest(build_config("beta-vae")) != base


def test_same_settings_compares_the_precision_only_where_one_was_asked_for():
    config = build_config("vae")
    metrics = {"config_digest": config_digest(config), "precision": "bf16"}
    assert same_settings(metrics, config)  # `auto`: whatever the recording machine chose
    assert not same_settings(metrics, build_config("vae", {"train.precision": "fp32"}))
    assert same_settings({**metrics, "precision": "fp32"}, build_config("vae", {"train.precision": "fp32"}))
    assert not same_settings({"precision": "bf16"}, config)  # a run recorded without a digest is never reused


def test_a_run_recorded_before_a_setting_existed_matches_only_that_settings_earlier_value():
    from ppl_ssl.config import flat_values
    from ppl_ssl.provenance import _ADDED_LATER, _NOT_IN_DIGEST

    def digest_before_the_setting(config):  # as the code before `nets.encoder_scale` wrote it: no such key
        settings = {k: v for k, v in flat_values(config).items() if k not in _NOT_IN_DIGEST and k != "nets.encoder_scale"}
        return hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]

    assert ("nets.encoder_scale", "softplus") in _ADDED_LATER
    pythae_nets = {"nets.kind": "pythae_resnet"}
    earlier = {"config_digest": digest_before_the_setting(build_config("vae", pythae_nets))}
    assert earlier["config_digest"] != config_digest(build_config("vae", pythae_nets))
    assert same_settings(earlier, build_config("vae", pythae_nets))  # softplus: what every run did before
    assert not same_settings(earlier, build_config("vae", {**pythae_nets, "nets.encoder_scale": "log_variance"}))
    assert not same_settings(earlier, build_config("vae", {**pythae_nets, "train.epochs": 3}))


def test_the_code_version_names_the_package_version_and_in_a_checkout_its_commit():
    assert re.fullmatch(r"\d+\.\d+\.\d+(\+g[0-9a-f]{12}(\.dirty)?)?", code_version())


def test_a_finished_run_folder_is_reused_only_for_its_own_settings(tmp_path):
    import pytest

    from ppl_ssl.errors import ConfigError
    from ppl_ssl.reporting import ensure_run
    from tests.conftest import TINY

    folder = tmp_path / "vae"
    ensure_run("vae", folder, {"train.epochs": 1}, TINY)
    stamp = (folder / "metrics.json").stat().st_mtime_ns
    assert ensure_run("vae", folder, {"train.epochs": 1, "train.log_every": 7}, TINY) == folder  # same numbers: reused
    with pytest.raises(ConfigError, match=r"run folder .*vae holds a finished run made with other settings"):
        ensure_run("vae", folder, {"train.epochs": 2}, TINY)
    assert (folder / "metrics.json").stat().st_mtime_ns == stamp  # refused, neither retrained nor overwritten
