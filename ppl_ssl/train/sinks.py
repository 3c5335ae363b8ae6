"""Where the training loop's terms go: train_log.jsonl (one line per step), TensorBoard, the progress bar and the
epoch summary line. Only the main rank writes; every call is a no-op elsewhere."""
from __future__ import annotations

import json
import sys

from tqdm.auto import tqdm

from ppl_ssl.storage import RunPaths
from ppl_ssl.tensorboard_log import TensorBoardLog


class Sinks:
    def __init__(self, paths: RunPaths, writes: bool, tensorboard: bool, progress: bool, first_global_step: int):
        self.writes, self.progress = writes, progress and writes
        self.log = open(paths.log, "a") if writes else None
        self.board = TensorBoardLog(paths.tensorboard, purge_step=first_global_step) if tensorboard and writes else None
        self.bar = None

    def steps(self, epoch: int, epochs: int, first: int, steps_per_epoch: int):
        """The epoch's step numbers, shown as a progress bar."""
        self.bar = tqdm(range(first, steps_per_epoch), desc=f"epoch {epoch + 1}/{epochs}", initial=first,
                        total=steps_per_epoch, disable=not self.progress or not sys.stderr.isatty(), leave=False,
                        dynamic_ncols=True)  # piped or logged: no frames, only the epoch's summary line
        return self.bar

    def records(self, epoch: int, records: list[dict]) -> None:
        """Logged steps' terms, per view (each with its global `step`)."""
        if self.log is not None:
            for record in records:
                self.log.write(json.dumps({"epoch": epoch, **record}) + "\n")
        if self.board is not None:
            self.board.steps(records)
        if records and self.bar is not None:
            self.bar.set_postfix(loss=f"{records[-1]['loss']:.3g}", refresh=False)

    def flush(self) -> None:
        if self.log is not None:
            self.log.flush()

    def epoch(self, summary: dict, epochs: int, global_step: int) -> None:
        """An epoch's means and seconds."""
        self.flush()
        if self.board is not None:
            self.board.epoch(summary, global_step)
        if self.progress:
            terms = ", ".join(f"{k} {v:.4g}" for k, v in summary.items() if k not in ("epoch", "seconds", "loss"))
            tqdm.write(f"epoch {summary['epoch']}/{epochs}: loss/view {summary['loss']:.4g} ({terms}) "
                       f"in {summary['seconds']:.1f}s")

    def close(self) -> None:
        if self.log is not None:
            self.log.close()
        if self.board is not None:
            self.board.close()
