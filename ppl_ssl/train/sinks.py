"""Where the training loop's terms go: the trackers (train_log.jsonl always; TensorBoard and MLflow when the config
asks, `ppl_ssl.trackers`), the progress bar and the epoch summary line. Only the main rank writes; every call is a
no-op elsewhere."""
from __future__ import annotations

import sys

from tqdm.auto import tqdm

from ppl_ssl.config import flat_values
from ppl_ssl.storage import RunPaths
from ppl_ssl.trackers import JsonlTracker, Tracker, open_trackers


class Sinks:
    def __init__(self, config, paths: RunPaths, writes: bool, progress: bool, first_global_step: int,
                 extra: list[Tracker] = ()):
        self.writes, self.progress = writes, progress and writes
        self.log = JsonlTracker(paths.log) if writes else None
        self.trackers: list[Tracker] = [self.log, *open_trackers(config, paths.root, first_global_step), *extra] \
            if writes else []
        settings = flat_values(config) if self.trackers else {}
        for tracker in self.trackers:
            tracker.params(settings)
        self.bar = None

    def steps(self, epoch: int, epochs: int, first: int, steps_per_epoch: int):
        """The epoch's step numbers, shown as a progress bar."""
        self.bar = tqdm(range(first, steps_per_epoch), desc=f"epoch {epoch + 1}/{epochs}", initial=first,
                        total=steps_per_epoch, disable=not self.progress or not sys.stderr.isatty(), leave=False,
                        dynamic_ncols=True)  # piped or logged: no frames, only the epoch's summary line
        return self.bar

    def records(self, epoch: int, records: list[dict]) -> None:
        """Logged steps' terms, per view (each with its global `step`)."""
        tagged = [{"epoch": epoch, **record} for record in records]
        for tracker in self.trackers:
            tracker.steps(tagged)
        if records and self.bar is not None:
            self.bar.set_postfix(loss=f"{records[-1]['loss']:.3g}", refresh=False)

    def flush(self) -> None:
        if self.log is not None:
            self.log.flush()

    def epoch(self, summary: dict, epochs: int, global_step: int) -> None:
        """An epoch's means and seconds."""
        for tracker in self.trackers:
            tracker.epoch(summary, global_step)
        if self.progress:
            terms = ", ".join(f"{k} {v:.4g}" for k, v in summary.items()
                              if k not in ("epoch", "seconds", "loss") and isinstance(v, (int, float)))
            tqdm.write(f"epoch {summary['epoch']}/{epochs}: loss/view {summary['loss']:.4g} ({terms}) "
                       f"in {summary['seconds']:.1f}s")

    def note(self, line: str) -> None:
        """A line about the run (early stopping), beside the epoch lines."""
        if self.progress:
            tqdm.write(line)

    def close(self) -> None:
        for tracker in self.trackers:
            tracker.close()
