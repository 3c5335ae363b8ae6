"""Where a run's numbers go besides its own folder: experiment trackers behind one small protocol.

A `Tracker` hears the run's settings once (`params`: the resolved config, flattened), every logged step's terms
(`steps`, per view), each epoch's means (`epoch`), the evaluation metrics (`metrics`) and the figures (`figures`).
Three implement it: `JsonlTracker` (RUN/train_log.jsonl, always on: the run's own record), `TensorBoardTracker`
(`train.tensorboard`: RUN/tensorboard/) and `MlflowTracker` (`train.mlflow`: an MLflow file store in RUN/mlruns/,
one MLflow run per ppl-ssl run, resumed with it). A user's own tracker is any object with these methods, passed to
`ppl_ssl.train.loop.fit(..., trackers=[...])`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from ppl_ssl.errors import ConfigError


class Tracker(Protocol):
    def params(self, values: dict) -> None: ...
    def steps(self, records: list[dict]) -> None: ...
    def epoch(self, summary: dict, step: int) -> None: ...
    def metrics(self, metrics: dict, step: int) -> None: ...
    def figures(self, paths: list[Path], step: int) -> None: ...
    def close(self) -> None: ...


def _numbers(values: dict) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


class JsonlTracker:
    """RUN/train_log.jsonl: one line per logged step, the terms per view with the step and epoch."""

    def __init__(self, path: Path):
        self.file = open(path, "a")

    def params(self, values: dict) -> None:
        pass  # the run's config.toml holds them

    def steps(self, records: list[dict]) -> None:
        for record in records:
            self.file.write(json.dumps(record) + "\n")  # the records come tagged with their epoch (train/sinks.py)

    def epoch(self, summary: dict, step: int) -> None:
        self.file.flush()  # history.json holds the epoch means

    def metrics(self, metrics: dict, step: int) -> None:
        pass  # metrics.json holds them

    def figures(self, paths: list[Path], step: int) -> None:
        pass

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()


class TensorBoardTracker:
    """RUN/tensorboard/: `train/…` per step (the numbers of train_log.jsonl), `epoch/…`, `eval/…`, the figures and
    the config as text. Watch it with `tensorboard --logdir RUN/tensorboard`; needs the `tensorboard` package."""

    def __init__(self, folder: Path, purge_step: int | None = None):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("train.tensorboard needs the tensorboard package: pip install tensorboard, or leave "
                              "train.tensorboard off") from None
        # purge_step: on resume, events of the steps about to be redone are dropped, so every step shows once
        self.writer = SummaryWriter(str(folder), purge_step=purge_step)

    def params(self, values: dict) -> None:
        self.writer.add_text("config", "\n".join(f"    {k} = {v!r}" for k, v in sorted(values.items())))

    def steps(self, records: list[dict]) -> None:
        for record in records:
            for name, value in record.items():
                if name not in ("step", "views", "epoch"):
                    self.writer.add_scalar(f"train/{name}", value, record["step"])

    def epoch(self, summary: dict, step: int) -> None:
        for name, value in _numbers(summary).items():
            if name != "epoch":
                self.writer.add_scalar(f"epoch/{name}", value, summary["epoch"])
        self.writer.flush()

    def metrics(self, metrics: dict, step: int) -> None:
        for name, value in _numbers(metrics).items():
            self.writer.add_scalar(f"eval/{name}", value, step)

    def figures(self, paths: list[Path], step: int) -> None:
        from PIL import Image

        for path in paths:
            with Image.open(path) as image:
                self.writer.add_image(f"figures/{path.stem}", np.asarray(image.convert("RGB")), step, dataformats="HWC")

    def close(self) -> None:
        self.writer.close()


class MlflowTracker:
    """An MLflow file store in RUN/mlruns/ (`mlflow ui --backend-store-uri RUN/mlruns`): the config as params, the
    terms per step (`train/…`), the epoch means (`epoch/…`), the metrics (`eval/…`) and the figures as artifacts.
    The experiment is named after the preset; the MLflow run's id is kept in RUN/mlruns/run_id, so a resumed ppl-ssl
    run goes on logging into the same MLflow run (steps redone after a resume appear twice in MLflow's history, at
    the same step numbers). Uses MLflow's client API, offline; needs `mlflow` or `mlflow-skinny` (the `mlflow`
    extra)."""

    def __init__(self, folder: Path, experiment: str, run_name: str):
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise ConfigError("train.mlflow needs MLflow: pip install mlflow-skinny (or mlflow), or leave train.mlflow "
                              "off") from None
        folder.mkdir(parents=True, exist_ok=True)
        # MLflow 3 steers users to a database backend, which needs SQLAlchemy (not in mlflow-skinny); a run folder's
        # own file store needs no server or database, so ppl-ssl opts in to it
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=folder.resolve().as_uri())
        found = self.client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found is not None else self.client.create_experiment(experiment)
        id_file = folder / "run_id"
        if id_file.is_file():
            self.run_id = id_file.read_text().strip()
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            self.run_id = self.client.create_run(experiment_id, run_name=run_name).info.run_id
            id_file.write_text(self.run_id + "\n")

    def _log(self, values: dict[str, float], step: int) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, step) for k, v in values.items() if np.isfinite(v)]
        for start in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics a batch
            self.client.log_batch(self.run_id, metrics=metrics[start : start + 1000])

    def params(self, values: dict) -> None:
        from mlflow.entities import Param

        params = [Param(k, str(v)[:6000]) for k, v in sorted(values.items())]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 params a batch
            self.client.log_batch(self.run_id, params=params[start : start + 100])

    def steps(self, records: list[dict]) -> None:
        for record in records:
            self._log({f"train/{k}": v for k, v in _numbers(record).items() if k not in ("step", "views", "epoch")},
                      int(record["step"]))

    def epoch(self, summary: dict, step: int) -> None:
        self._log({f"epoch/{k}": v for k, v in _numbers(summary).items() if k != "epoch"}, int(summary["epoch"]))

    def metrics(self, metrics: dict, step: int) -> None:
        self._log({f"eval/{k}": v for k, v in _numbers(metrics).items()}, step)

    def figures(self, paths: list[Path], step: int) -> None:
        for path in paths:
            self.client.log_artifact(self.run_id, str(path), artifact_path="figures")

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


def open_trackers(config, root: Path, purge_step: int | None = None) -> list[Tracker]:
    """The trackers the config asks for besides the JSONL log (`train.tensorboard`, `train.mlflow`)."""
    trackers: list[Tracker] = []
    if config.train.tensorboard:
        trackers.append(TensorBoardTracker(root / "tensorboard", purge_step=purge_step))
    if config.train.mlflow:
        trackers.append(MlflowTracker(root / "mlruns", experiment=config.name, run_name=Path(root).name))
    return trackers
