"""Post-hoc decoders for frozen encoders (experiments/decode.py) and the side-by-side comparison (compare.py)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ppl_ssl
from ppl_ssl import posthoc
from ppl_ssl.data import as_float
from ppl_ssl.posthoc import fit_posthoc_decoder
from ppl_ssl.runs import load_posthoc_decoder
from ppl_ssl.train.loop import fit
from ppl_ssl.train.setup import load_data_for
from tests.conftest import TINY, tiny_config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))
import compare  # noqa: E402
import decode  # noqa: E402


@pytest.fixture(scope="module")
def simclr_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("simclr") / "run"
    ppl_ssl.fit_and_evaluate(tiny_config("simclr", "model.views=2", "eval.style_probe=false", epochs=3), out, progress=False)
    return out


def test_decode_cli_fits_a_decoder_that_beats_the_mean_image(simclr_run):
    result = decode.main([str(simclr_run), "--max-epochs", "300", "--patience", "20", "--lr", "3e-3", "--quiet", "--device", "cpu"])
    metrics = json.loads((simclr_run / "metrics.json").read_text())
    assert metrics["posthoc_reconstruction_mse"] == pytest.approx(result["posthoc_reconstruction_mse"])
    assert Path(result["figure"]).is_file() and (simclr_run / "posthoc_decoder.pt").is_file()
    data = load_data_for(ppl_ssl.load_run(simclr_run).config, "cpu")
    mean_image = as_float(data.train_x).mean(0)
    baseline = float(((as_float(data.test_x) - mean_image) ** 2).mean())
    assert result["posthoc_reconstruction_mse"] < 0.9 * baseline  # the frozen representation carries the image
    again = decode.main([str(simclr_run), "--quiet", "--device", "cpu"])  # kept: loaded, not refitted
    assert again["posthoc_seconds"] == result["posthoc_seconds"]


def test_a_run_with_a_posthoc_decoder_reconstructs_and_samples_through_it(simclr_run):
    if not (simclr_run / "posthoc_decoder.pt").is_file():
        decode.main([str(simclr_run), "--max-epochs", "5", "--quiet", "--device", "cpu"])
    run = ppl_ssl.load_run(simclr_run)
    data = load_data_for(run.config, "cpu")
    images = as_float(data.test_x[:32])
    reconstructions = run.reconstruct(images)
    assert reconstructions.shape == images.shape
    expected = load_posthoc_decoder(run, data.spec.image_shape)(run.system.encode(images))
    assert torch.allclose(reconstructions, expected)
    with pytest.raises(ValueError, match="has no prior to sample from.*--sampler gmm"):
        run.sample(4)
    drawn = ppl_ssl.sample_run(simclr_run, "gmm", n=6, device="cpu")
    assert Path(drawn["figure"]).is_file() and Path(drawn["sampler_state"]).is_file()
    with pytest.raises(ppl_ssl.ConfigError, match="has no prior; use a sampler fitted on its codes"):
        ppl_ssl.sample_run(simclr_run, "prior", n=2, device="cpu")


def test_a_run_without_any_decoder_says_how_to_fit_one(tmp_path):
    out = tmp_path / "run"
    ppl_ssl.fit_and_evaluate(tiny_config("simclr", "model.views=2", "eval.style_probe=false"), out, progress=False)
    with pytest.raises(ValueError, match="has none; fit one to its frozen encoder with: ppl-ssl decode"):
        ppl_ssl.load_run(out).reconstruct(torch.rand(2, 1, 8, 8))
    with pytest.raises(ppl_ssl.ConfigError, match="fit one to its frozen encoder with: ppl-ssl decode"):
        ppl_ssl.sample_run(out, "gmm", n=2, device="cpu")


def test_a_killed_decoder_fit_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    out = tmp_path / "vae"
    fit(tiny_config("vae", epochs=1), out, progress=False)
    run = ppl_ssl.load_run(out)
    data = load_data_for(run.config, "cpu")
    straight, summary = fit_posthoc_decoder(run, data, max_epochs=4, patience=10, lr=1e-3, progress=False)
    posthoc.posthoc_path(run.root).unlink()
    saves, original = [], posthoc.atomic_torch_save

    def killed_after_two_epochs(path, state):
        original(path, state)
        saves.append(path)
        if len(saves) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(posthoc, "atomic_torch_save", killed_after_two_epochs)
    with pytest.raises(KeyboardInterrupt):
        fit_posthoc_decoder(run, data, max_epochs=4, patience=10, lr=1e-3, progress=False)
    monkeypatch.setattr(posthoc, "atomic_torch_save", original)
    resumed, resumed_summary = fit_posthoc_decoder(run, data, max_epochs=4, patience=10, lr=1e-3, progress=False)
    assert resumed_summary["posthoc_epochs"] == 4
    assert resumed_summary["posthoc_reconstruction_mse"] == pytest.approx(summary["posthoc_reconstruction_mse"], rel=1e-6)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.allclose(a, b)


def _cli(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # subprocesses: make test-all
def test_generative_only_commands_refuse_a_discriminative_run_in_one_line(simclr_run, tmp_path):
    decoder = simclr_run / "posthoc_decoder.pt"
    if decoder.exists():  # with a post-hoc decoder, sampling works (tested above); here the run has none
        decoder.rename(tmp_path / "kept.pt")
    for command in (["experiments/evaluate.py", str(simclr_run), "--nll"], ["experiments/sample.py", str(simclr_run)],
                    ["experiments/sample.py", str(simclr_run), "--mode", "all"]):
        result = _cli(*command, "--device", "cpu")
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1, result.stderr
        assert "simclr" in lines[0] or "selfVAE" in lines[0]
        assert any(hint in lines[0] for hint in ("ppl-ssl decode", "--nll", "--sampler"))
    if (tmp_path / "kept.pt").exists():
        (tmp_path / "kept.pt").rename(decoder)


def test_compare_trains_reuses_and_tabulates_mean_and_standard_error(tmp_path):
    args = ["--models", "vae", "simclr", "--epochs", "1", "--seeds", "2", "--dataset", "digits", "--decode-epochs", "3",
            "--out", str(tmp_path)] + [a for s in TINY if not s.startswith("data.dataset") for a in ("--set", s)]
    table = compare.main(args)
    summary = json.loads((tmp_path / "compare.json").read_text())
    assert set(summary["summary"]) == {"vae", "simclr"} and len(summary["runs"]["simclr"]) == 2
    knn = [run["knn_accuracy"] for run in summary["runs"]["vae"]]
    assert summary["summary"]["vae"]["knn_accuracy"][0] == pytest.approx(sum(knn) / 2)
    assert " ± " in table and "†" in table  # two seeds; SimCLR's MSE comes from its post-hoc decoder
    assert (tmp_path / "compare.md").read_text().startswith("| model |")
    assert (tmp_path / "reconstructions.png").is_file()
    checkpoints = sorted(tmp_path.glob("*/checkpoint.pt"))
    assert len(checkpoints) == 4
    stamps = [p.stat().st_mtime_ns for p in checkpoints]
    assert compare.main(args) == table  # finished runs are reused, not retrained
    assert [p.stat().st_mtime_ns for p in checkpoints] == stamps


def test_compare_checks_every_model_before_training(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        compare.main(["--models", "vae", "simclrr", "--epochs", "1", "--out", str(tmp_path)])
    assert stop.value.code == 2 and "unknown model preset 'simclrr'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing was trained
