"""`train.tensorboard`: the run's terms, epoch means, metrics and figures, read back with TensorBoard's own reader."""
import json
import sys

import pytest

import ppl_ssl
from ppl_ssl.errors import ConfigError
from ppl_ssl.train.loop import fit
from tests.conftest import fit_stopped_after_epoch, tiny_config


def _events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    accumulator.Reload()
    return accumulator


def test_a_run_shows_its_steps_epochs_metrics_and_figures(tmp_path):
    config = tiny_config("vae", "train.tensorboard=true", "eval.figures=true", epochs=2)
    ppl_ssl.fit_and_evaluate(config, tmp_path / "run", progress=False)
    events = _events(tmp_path / "run" / "tensorboard")
    tags = events.Tags()
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert "views" not in log[0]  # the log holds terms per view, not the bookkeeping
    losses = events.Scalars("train/loss")
    assert [e.step for e in losses] == [r["step"] for r in log]
    assert [e.value for e in losses] == pytest.approx([r["loss"] for r in log], rel=1e-6)
    assert {"epoch/elbo", "epoch/grad_norm", "eval/knn_accuracy", "eval/reconstruction_mse"} <= set(tags["scalars"])
    assert {"figures/training_curves", "figures/reconstructions"} <= set(tags["images"])


def test_a_resumed_run_shows_each_step_once(tmp_path):
    config = tiny_config("vae", "train.tensorboard=true", epochs=2)
    fit_stopped_after_epoch(config, tmp_path / "run")
    fit(config, tmp_path / "run", resume=True, progress=False)
    steps = [e.step for e in _events(tmp_path / "run" / "tensorboard").Scalars("train/loss")]
    assert steps == sorted(set(steps)) and len(steps) == 16  # 2 epochs × 8 steps, none twice


def test_asking_for_tensorboard_without_the_package_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    with pytest.raises(ConfigError, match=r"train.tensorboard needs the tensorboard package: pip install tensorboard"):
        fit(tiny_config("vae", "train.tensorboard=true"), tmp_path / "run", progress=False)
