"""Posterior diagnostics and the KL schedule, against closed forms and constructed extremes."""
import json
import math

import pyro
import pytest
import torch

import ppl_ssl
from ppl_ssl.evaluation import posterior_diagnostics
from ppl_ssl.inference import kl_weight
from ppl_ssl.system import build_system
from tests.conftest import tiny_config

SHAPE = (1, 8, 8)


def test_kl_matches_the_closed_form_and_decomposes_into_mi_and_aggregate_kl():
    torch.manual_seed(0)
    system = build_system(tiny_config("vae"), SHAPE).eval()
    images = torch.rand(2000, *SHAPE)
    pyro.set_rng_seed(0)
    out = posterior_diagnostics(system, images)
    loc, scale = system.guide.encoder(images)
    analytic = torch.distributions.kl_divergence(torch.distributions.Normal(loc, scale), torch.distributions.Normal(0.0, 1.0)).sum(-1)
    assert out["kl"] == pytest.approx(float(analytic.mean().detach()), abs=0.05)
    assert out["kl"] == pytest.approx(out["mutual_information"] + out["aggregate_kl"], abs=1e-4)
    assert 0 < out["mutual_information"] <= math.log(len(images))
    assert out["aggregate_kl"] > -0.05


def test_an_encoder_that_ignores_its_input_has_no_mutual_information_and_no_active_units():
    torch.manual_seed(0)
    system = build_system(tiny_config("vae"), SHAPE).eval()
    head = system.guide.encoder.head.linear
    head.weight.data.zero_()  # loc and scale no longer depend on x: the posterior has collapsed to one Gaussian
    out = posterior_diagnostics(system, torch.rand(1000, *SHAPE))
    assert abs(out["mutual_information"]) < 0.02
    assert out["active_units"] == 0


def test_planar_guides_report_kl_but_cannot_score_other_codes():
    system = build_system(tiny_config("vae", "guide.kind='linear_nf'"), SHAPE).eval()
    out = posterior_diagnostics(system, torch.rand(50, *SHAPE))
    assert math.isfinite(out["kl"]) and out["mutual_information"] is None


def test_kl_weight_ramps_linearly_to_beta():
    assert [kl_weight(2.0, 4, e) for e in (0, 1, 2, 4, 9)] == [0.0, 0.5, 1.0, 2.0, 2.0]
    assert kl_weight(0.5, 0, 0) == 0.5


def test_training_applies_the_warm_up_to_the_kl_term(tmp_path):
    config = tiny_config("vae", "train.kl_warmup_epochs=2.0", "eval.diagnostics_points=0", epochs=1)
    ppl_ssl.train.loop.fit(config, tmp_path / "run", progress=False)
    steps = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    per_epoch = len(steps)
    for record in steps:
        weight = record["step"] / per_epoch / 2.0
        expected = -(record["reconstruction"] + weight * (record["log_prior"] + record["entropy"]))
        assert record["loss"] == pytest.approx(expected, rel=1e-4, abs=1e-4)
