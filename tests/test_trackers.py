"""The trackers behind one protocol (ppl_ssl.trackers): MLflow's file store read back with MLflow's own client,
offline, and a user's own tracker handed to the training loop."""
import json

import pytest

import ppl_ssl
from ppl_ssl.train.loop import fit
from tests.conftest import fit_stopped_after_epoch, tiny_config

pytest.importorskip("mlflow")


def _client(run):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=(run / "mlruns").resolve().as_uri())
    return client, (run / "mlruns" / "run_id").read_text().strip()


def test_mlflow_holds_the_config_steps_epochs_metrics_and_figures(tmp_path):
    run = tmp_path / "run"
    ppl_ssl.fit_and_evaluate(tiny_config("vae", "train.mlflow=true", "eval.figures=true", epochs=2), run,
                             progress=False)
    client, run_id = _client(run)
    logged = client.get_run(run_id)
    assert logged.data.params["train.lr"] == "0.001" and logged.data.params["model.program.kind"] == "ssl"
    assert client.get_experiment(logged.info.experiment_id).name == "vae" and logged.info.status == "FINISHED"
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    losses = client.get_metric_history(run_id, "train/loss")
    assert sorted(m.step for m in losses) == [r["step"] for r in log]
    assert sorted(m.value for m in losses) == pytest.approx(sorted(r["loss"] for r in log), rel=1e-6)
    assert [m.step for m in client.get_metric_history(run_id, "epoch/validation_loss")] == [1, 2]
    metrics = json.loads((run / "metrics.json").read_text())
    assert logged.data.metrics["eval/knn_accuracy"] == pytest.approx(metrics["knn_accuracy"])
    figures = {a.path for a in client.list_artifacts(run_id, "figures")}
    assert {"figures/reconstructions.png", "figures/training_curves.png"} <= figures


def test_a_resumed_run_logs_into_the_same_mlflow_run(tmp_path):
    config = tiny_config("vae", "train.mlflow=true", epochs=2)
    fit_stopped_after_epoch(config, tmp_path / "run")
    client, first_id = _client(tmp_path / "run")
    fit(config, tmp_path / "run", resume=True, progress=False)
    _, again_id = _client(tmp_path / "run")
    assert again_id == first_id
    assert [m.step for m in client.get_metric_history(first_id, "epoch/loss")] == [1, 2]


class Recorder:
    """A tracker of one's own: any object with the protocol's methods."""

    def __init__(self):
        self.heard = {"params": [], "steps": [], "epoch": [], "closed": False}

    def params(self, values):
        self.heard["params"].append(values)

    def steps(self, records):
        self.heard["steps"] += records

    def epoch(self, summary, step):
        self.heard["epoch"].append(summary["epoch"])

    def metrics(self, metrics, step):
        pass

    def figures(self, paths, step):
        pass

    def close(self):
        self.heard["closed"] = True


def test_a_tracker_of_ones_own_hears_every_step_and_epoch(tmp_path):
    recorder = Recorder()
    fit(tiny_config("vae", epochs=2), tmp_path / "run", progress=False, trackers=[recorder])
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert recorder.heard["steps"] == log and recorder.heard["epoch"] == [1, 2] and recorder.heard["closed"]
    assert recorder.heard["params"][0]["train.epochs"] == 2
