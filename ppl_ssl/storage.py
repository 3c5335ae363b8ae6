"""Run folders on disk: atomic writes, the run lock, checkpoint reads, and where each file of a run lives.

    RUN/config.toml        the resolved config: recreates the run on its own
    RUN/checkpoint.pt      model, optimiser, RNG and loop state (torch.load(..., weights_only=True))
    RUN/train_log.jsonl    one line per SVI step: the loss and the ELBO terms, per view
    RUN/history.json       per-epoch means of the same
    RUN/metrics.json       evaluation results
    RUN/figures/*.png
    RUN/run.lock           held (an OS file lock) by the process training or evaluating into the folder
"""
from __future__ import annotations

import io
import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from ppl_ssl import faults
from ppl_ssl.errors import ConfigError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename over `path`: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        faults.point("checkpoint-write")  # a kill here leaves the temporary file and the old `path` intact
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes files private; a run's files get the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    _atomic_write(Path(path), data)


def atomic_write_text(path: Path, text: str) -> None:
    _atomic_write(Path(path), text.encode())


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_torch_save(path: Path, obj: Any) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    _atomic_write(Path(path), buffer.getvalue())


_HELD_LOCKS: dict[Path, int] = {}


@contextmanager
def run_lock(root: Path) -> Iterator[None]:
    """Hold the run folder's exclusive lock for the block: a second process writing the same folder is refused with
    one line naming the holder's pid. The OS releases the lock when the holder exits, however it exits (a killed
    run leaves no stale lock). Re-entrant within one process. (No lock where fcntl is missing, i.e. on Windows.)"""
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        yield
        return
    root = Path(root).resolve()
    if root in _HELD_LOCKS:
        yield
        return
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / "run.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise ConfigError(f"run folder {root} is being written by process {holder}; wait for it to finish, or pass "
                          f"another --out") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    _HELD_LOCKS[root] = fd
    try:
        yield
    finally:
        del _HELD_LOCKS[root]
        os.close(fd)  # releases the lock; the file stays, empty of meaning


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint.pt"

    @property
    def log(self) -> Path:
        return self.root / "train_log.jsonl"

    @property
    def history(self) -> Path:
        return self.root / "history.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"


def load_checkpoint(path: Path) -> dict:
    """A checkpoint's content, read to the CPU (weights_only): weights are copied to their device by
    `load_state_dict`, and generator states must stay on the CPU."""
    if not path.is_file():
        raise ConfigError(f"no checkpoint at {path}; train the run first (experiments/fit.py --out {path.parent})")
    return torch.load(path, map_location="cpu", weights_only=True)


