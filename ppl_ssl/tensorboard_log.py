"""TensorBoard for a run (`train.tensorboard = true` or `--tensorboard`): RUN/tensorboard/ gets the terms of every
step (`train/…`, per view, the same numbers as train_log.jsonl), epoch means (`epoch/…`), the evaluation metrics
(`eval/…`) and the figures. Watch it with `tensorboard --logdir RUN/tensorboard`. The writer is torch's
`SummaryWriter`, which needs the optional `tensorboard` package."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ppl_ssl.errors import ConfigError


class TensorBoardLog:
    def __init__(self, folder: Path, purge_step: int | None = None):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("train.tensorboard needs the tensorboard package: pip install 'ppl-ssl[tensorboard]' "
                              "(or pip install tensorboard), or leave train.tensorboard off") from None
        # purge_step: on resume, events of the steps about to be redone are dropped, so every step shows once
        self.writer = SummaryWriter(str(folder), purge_step=purge_step)

    def steps(self, records: list[dict]) -> None:
        for record in records:
            for name, value in record.items():
                if name not in ("step", "views", "epoch"):
                    self.writer.add_scalar(f"train/{name}", value, record["step"])

    def epoch(self, summary: dict, step: int) -> None:
        for name, value in summary.items():
            if name != "epoch":
                self.writer.add_scalar(f"epoch/{name}", value, summary["epoch"])
        self.writer.flush()

    def metrics(self, metrics: dict, step: int) -> None:
        for name, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(f"eval/{name}", value, step)

    def figures(self, paths: list[Path], step: int) -> None:
        from PIL import Image

        for path in paths:
            with Image.open(path) as image:
                self.writer.add_image(f"figures/{path.stem}", np.asarray(image.convert("RGB")), step, dataformats="HWC")

    def close(self) -> None:
        self.writer.close()
