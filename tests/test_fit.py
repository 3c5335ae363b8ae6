"""Each preset fits and evaluates on a tiny subset; runs reload from their folder; resumes are exact."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ppl_ssl
from ppl_ssl.config import preset_names
from ppl_ssl.errors import ConfigError
from ppl_ssl.train.loop import fit
from tests.conftest import fit_stopped_after_epoch, TINY, tiny_config

ROOT = Path(__file__).resolve().parents[1]
METRIC_KEYS = ["knn_accuracy", "knn_best_k", "linear_probe_accuracy", "mlp_probe_accuracy", "gmm_accuracy", "gmm_nmi",
               "gmm_ari", "reconstruction_mse", "elbo", "elbo_reconstruction", "elbo_log_prior", "elbo_entropy"]


DISCRIMINATIVE_METRICS = ["knn_accuracy", "knn_best_k", "linear_probe_accuracy", "mlp_probe_accuracy", "gmm_accuracy", "gmm_nmi",
                          "gmm_ari", "style_r2_mean", "loss"]


# digits are 8×8: VAEGAN's discriminator gets three stride-2 layers, not Pythae's four
TINY_BY_PRESET = {"vaegan": ["model.program.discriminator_channels=[8, 16, 32]", "model.program.feature_layer=2"]}


@pytest.mark.slow  # every preset end to end: make test-all
@pytest.mark.parametrize("preset", preset_names())
def test_each_preset_fits_and_evaluates(tmp_path, preset):
    views = min(ppl_ssl.build_config(preset).model.views, 3)
    config = tiny_config(preset, f"model.views={views}", "eval.figures=true", "eval.tsne_points=60",
                         *TINY_BY_PRESET.get(preset, []), epochs=2)
    metrics = ppl_ssl.fit_and_evaluate(config, tmp_path / "run", progress=False)
    generative = config.method.kind == "svi"
    assert set(METRIC_KEYS if generative else DISCRIMINATIVE_METRICS) <= set(metrics)
    for key in ("knn_accuracy", "linear_probe_accuracy", "mlp_probe_accuracy", "gmm_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["knn_accuracy"] > 0.3  # digits: even 2 tiny epochs separate classes far above chance (0.1)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == metrics
    figures = {p.name for p in (tmp_path / "run" / "figures").glob("*.png")}
    drawn_by_decoder = {"reconstructions.png", "class_samples.png", "prior_samples.png", "model_graph.png", "model_and_guide.png"}
    assert figures == {"training_curves.png", "tsne.png", *(drawn_by_decoder if generative else ())}
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 2 * 8 and "loss" in log[0]
    if generative:
        assert {"elbo", "reconstruction", "log_prior", "entropy"} <= set(log[0])


def test_training_improves_the_elbo(tmp_path):
    config = tiny_config("simvae", "model.views=2", "train.lr=3e-3", epochs=6)
    history = []
    fit(config, tmp_path / "run", progress=False, on_epoch_end=lambda epoch, summary: history.append(summary["elbo"]))
    assert history[-1] > history[0] + 20  # nats per view


def test_load_run_round_trips(tmp_path):
    config = tiny_config("simvae", "model.views=2")
    system, data = fit(config, tmp_path / "run", progress=False)
    run = ppl_ssl.load_run(tmp_path / "run")
    images = data.test_x[:9].float() / 255
    assert torch.allclose(run.encode(images), system.encode(images), atol=1e-6)
    assert run.encode(images).shape == (9, 4)
    assert run.reconstruct(images).shape == (9, 1, 8, 8)
    samples = run.sample(5)
    assert samples.shape == (5, 1, 8, 8) and 0 <= float(samples.min()) and float(samples.max()) <= 1
    assert run.config == config


def _parameters(system):
    return {k: v.clone() for k, v in system.state_dict().items()}


@pytest.mark.parametrize("preset, extra", [("simvae", ()), ("crvae-contrastive", ()), ("crvae-consistency", ()), ("mocov2", ()),  # momentum encoders, queues
                                           ("rhvae", ()),                                     # stored metric anchors
                                           ("simvae", ("train.precision='bf16'",))])          # nets in bf16
def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path, preset, extra):
    config = tiny_config(preset, "model.views=2", *extra, epochs=3)
    reference, _ = fit(config, tmp_path / "straight", progress=False)
    fit_stopped_after_epoch(config, tmp_path / "resumed")
    with pytest.raises(ConfigError, match="--resume"):
        fit(config, tmp_path / "resumed", progress=False)  # nothing is overwritten without --resume
    resumed, _ = fit(config, tmp_path / "resumed", resume=True, progress=False)
    expected, got = _parameters(reference), _parameters(resumed)
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    lines = (tmp_path / "resumed" / "train_log.jsonl").read_text().splitlines()
    assert len(lines) == len((tmp_path / "straight" / "train_log.jsonl").read_text().splitlines())


def test_checkpoints_load_with_weights_only(tmp_path):
    fit(tiny_config("vae"), tmp_path / "run", progress=False)
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert {"system", "optimiser", "augmenter", "order", "rng", "history", "epoch"} <= set(state)


def test_bernoulli_likelihood_rejects_grey_level_data(tmp_path):
    with pytest.raises(ConfigError, match="needs binary pixels"):
        fit(tiny_config("vae", "model.likelihood.kind=bernoulli"), tmp_path / "run", progress=False)


def _cli(*args, cwd=ROOT, timeout=600):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.parametrize("args, words", [
    (["--model", "nope"], ["unknown model preset 'nope'"]),
    (["--set", "objective.beta=abc"], ["objective.beta expects a number"]),
    (["--set", "model.nokey=1"], ["unknown key 'model.nokey'"]),
    (["--dataset", "mnist", "--data-dir", "/nonexistent/mnist"], ["--data-dir /nonexistent/mnist does not exist"]),
    (["--model", "iwae", "--set", "guide.kind='delta'"], ["objective.kind = 'iwae'", "no density", "guide.kind=mean_field"]),
    (["--model", "iwae", "--set", "objective.beta=2.0"], ["unknown key 'objective.beta'", "particles"]),
    (["--model", "simclr", "--set", "objective.beta=0.5"], ["method 'simclr'", "objective.beta does not apply"]),
    (["--model", "vae", "--set", "model.prior.kind='vampire'"], ["model.prior.kind = 'vampire'", "vamp"]),
    (["--model", "simclr", "--views", "1"], ["method 'simclr'", "model.views ≥ 2", "--views 2"]),
    (["--model", "crvae-contrastive", "--set", "objective.kind='iwae'"], ["model.program = 'crvae_contrastive'", "objective.kind=elbo"]),
    (["--model", "crvae-contrastive", "--set", "model.program.query='both'"], ["model.program.query", "must be sample or mean"]),
    (["--model", "mocov2", "--set", "method.momentum=1.0"], ["method.momentum = 1.0", "[0, 1)"]),
])
@pytest.mark.slow  # a subprocess per case; tests/test_faults.py runs the same catalogue in-process
def test_cli_errors_are_one_line_with_exit_status_2(args, words, monkeypatch):
    monkeypatch.delenv("PPL_SSL_DATA", raising=False)
    result = _cli("experiments/fit.py", *args, "--out", "/tmp/ppl_ssl_never_written")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    for word in words:
        assert word in lines[0]


def test_cli_help_lists_models_datasets_and_presets():
    out = _cli("experiments/fit.py", "--help").stdout
    for word in ("simvae", "beta-vae", "fashion-mnist", "cifar10", "ssl_group", "--train-subset", "--resume", "crvae-contrastive", "crvae-consistency",
                 "simclr", "vicreg", "mocov2", "training methods (method.kind)"):
        assert word in out


FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not FASHION.is_dir() and not os.environ.get("PPL_SSL_DATA"), reason="Fashion-MNIST not installed")
def test_end_to_end_cli_on_fashion_mnist(tmp_path):
    """The README's path, shortened: fit.py on real data, then evaluate.py on the run folder."""
    out = tmp_path / "e2e"
    fit_run = _cli("experiments/fit.py", "--model", "simvae", "--epochs", "1", "--views", "4", "--train-subset", "2000",
                   "--device", "cpu", "--out", str(out), "--quiet", "--set", "eval.probe_epochs=5", "--set", "eval.gmm_n_init=1",
                   "--set", "eval.tsne_points=150", "--set", "data.val_size=1000", "--set", "eval.diagnostics_points=500")
    assert fit_run.returncode == 0, fit_run.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    # a check of the path, not of quality: 16 steps leave the encoder near its start, and its kNN accuracy moves
    # between 0.49 and 0.55 with the CPU's kernels and the precision; a broken fit or evaluation scores near chance (0.1)
    assert metrics["knn_accuracy"] > 0.35
    again = _cli("experiments/evaluate.py", str(out), "--device", "cpu", "--no-figures")
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "metrics.json").read_text())["knn_accuracy"] == pytest.approx(metrics["knn_accuracy"])
    assert len(list((out / "figures").glob("*.png"))) == 7  # + model_graph.png, model_and_guide.png
    nll = _cli("experiments/evaluate.py", str(out), "--device", "cpu", "--nll", "--nll-samples", "50", "--nll-images", "200",
               "--only-generative", "--no-figures")
    assert nll.returncode == 0, nll.stderr
    scores = json.loads((out / "metrics.json").read_text())
    assert scores["knn_accuracy"] == pytest.approx(metrics["knn_accuracy"])  # kept, not recomputed
    assert scores["nll_images"] == 200 and scores["nll_samples"] == 50 and 0 <= scores["psis_khat_gt_0_7"] <= 1
    dims = 28 * 28  # a density on [0, 1] per 8-bit bin of width 1/255
    assert scores["test_bpd"] == pytest.approx((scores["test_nll"] + dims * math.log(255)) / (dims * math.log(2)))
    sample = _cli("experiments/sample.py", str(out), "--sampler", "gmm", "--n", "16", "--device", "cpu")
    assert sample.returncode == 0, sample.stderr
    assert (out / "figures" / "samples_gmm.png").is_file() and (out / "samplers" / "gmm.pt").is_file()


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.is_dir(), reason="Fashion-MNIST not installed")
def test_quick_preset_reaches_its_quality(tmp_path):
    metrics = ppl_ssl.fit_and_evaluate(ppl_ssl.build_config("simvae-quick"), tmp_path / "quick", progress=False)
    assert metrics["knn_accuracy"] > 0.68 and metrics["mlp_probe_accuracy"] > 0.62


@pytest.mark.slow  # subprocesses: make test-all
def test_the_installed_command_lists_and_runs_the_subcommands(tmp_path):
    import shutil

    installed = shutil.which("ppl-ssl")
    assert installed, "pip install -e . installs the ppl-ssl command"
    listing = subprocess.run([installed, "--help"], capture_output=True, text=True)
    assert listing.returncode == 0
    for command in ("fit", "evaluate", "sample", "decode", "compare", "reproduce"):
        assert f"  {command} " in listing.stdout
    unknown = subprocess.run([installed, "train"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "unknown command 'train'" in unknown.stderr
    fitted = subprocess.run([installed, "fit", "--model", "vae", "--epochs", "1", *[f"--set={s}" for s in TINY],
                             "--out", str(tmp_path / "run"), "--quiet", "--no-figures"], capture_output=True, text=True)
    assert fitted.returncode == 0, fitted.stderr
    evaluated = _cli("-m", "ppl_ssl", "evaluate", str(tmp_path / "run"), "--no-figures", "--device", "cpu")
    assert evaluated.returncode == 0 and '"knn_accuracy"' in evaluated.stdout
