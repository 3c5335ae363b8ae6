"""Run folders on disk: atomic writes, the run lock, checkpoint reads, and where each file of a run lives.

    RUN/config.toml        the resolved config: recreates the run on its own
    RUN/checkpoint.pt      model, optimiser, RNG and loop state (torch.load(..., weights_only=True))
    RUN/best.pt            train.keep_best: the weights of the epoch with the lowest validation loss
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
from ppl_ssl.errors import FILE_SYSTEM_ERRNOS, CheckpointError, ConfigError, file_system_error


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename over `path`: readers never see half a file. A
    failure (disk full, permission, a file where the folder belongs) is one line naming `path`, and says that the
    file's last complete version, if it has one, is intact."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise file_system_error(err, path.parent) from None
    try:
        _write_and_rename(fd, tmp, path, data)
    except OSError as err:
        kept = (f"{path.name} still holds its last complete version (continue a run with --resume)"
                if path.exists() else "")
        raise file_system_error(err, path, kept=kept) from None


def _write_and_rename(fd: int, tmp: str, path: Path, data: bytes) -> None:
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
def run_lock(root: Path, create: bool = True) -> Iterator[None]:
    """Hold the run folder's exclusive lock for the block: a second process writing the same folder is refused with
    one line naming the holder's pid. The OS releases the lock when the holder exits, however it exits (a killed
    run leaves no stale lock). Re-entrant within one process. (No lock where fcntl is missing, i.e. on Windows.)
    create=False: for commands that add to a finished run (evaluate, sample, decode): a missing folder is not made."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        yield
        return
    root = Path(root).resolve()
    if root in _HELD_LOCKS:
        yield
        return
    if not create and not root.is_dir():  # a reader of a run: no folder to lock, and none is made; the reader names it
        yield
        return
    if root.exists() and not root.is_dir():
        raise ConfigError(f"run folder {root} is a file, not a folder; choose another --out") from None
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / "run.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise file_system_error(err, err.filename or root) from None
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
    def best(self) -> Path:
        return self.root / "best.pt"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"


def read_json(path: Path, default: Any = None) -> Any:
    """A run's JSON file (metrics.json, history.json, a report), or `default` if it is absent; a damaged one is one
    line naming it (these files are written whole, so damage comes from outside)."""
    path = Path(path)
    if default is not None and not path.exists():
        return default
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} is not valid JSON ({err}); remove it and evaluate the run again "
                              f"(ppl-ssl evaluate)") from None
    except OSError as err:
        raise file_system_error(err, path, reading=True) from None


def read_log(path: Path) -> list[dict]:
    """train_log.jsonl's records (see `read_log_lines`)."""
    return [record for _, record in read_log_lines(path)]


def read_log_lines(path: Path) -> list[tuple[str, dict]]:
    """train_log.jsonl's lines with their records. A last line cut short (a kill while it was appended) is dropped:
    its step is after the last checkpoint and is redone on resume. A damaged line before the last is one line
    naming it."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        lines = path.read_bytes().decode("utf-8", errors="replace").split("\n")
    except OSError as err:
        raise file_system_error(err, path, reading=True) from None
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or "step" not in record:
                raise ValueError("no 'step'")
        except ValueError as err:
            if number == len(lines):  # no newline after it: the last line, cut short
                break
            raise CheckpointError(f"{path}: line {number} is not a log record ({err}); remove that line (the steps "
                                  f"after the last checkpoint are redone on --resume)") from None
        records.append((line, record))
    return records


RUN_CHECKPOINT_KEYS = ("system", "optimiser", "order", "history", "epoch")  # what the training loop writes


def load_checkpoint(path: Path, required: tuple[str, ...] = RUN_CHECKPOINT_KEYS) -> dict:
    """A checkpoint's content, read to the CPU (weights_only): weights are copied to their device by
    `load_state_dict`, and generator states must stay on the CPU. A file that is truncated, damaged, unsafe (code in
    its pickle) or not one of ppl-ssl's (`required` keys missing) is refused in one line naming it."""
    import pickle
    import zipfile

    path = Path(path)
    if not path.is_file():
        if path.exists():
            raise CheckpointError(f"{path} is a folder, not a checkpoint file; remove it, then train or resume the run")
        raise ConfigError(f"no checkpoint at {path}; train the run first (ppl-ssl fit --out {path.parent})")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        reason = str(err).strip().splitlines()[0][:160]
        raise CheckpointError(f"{path} holds objects a checkpoint never holds and was not run ({reason}); it was not "
                              f"written by ppl-ssl: remove it and train again") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, KeyError, IndexError, TypeError) as err:
        # what torch.load raises on bytes that are no checkpoint (its legacy reader ends in KeyError or IndexError)
        if isinstance(err, OSError) and err.errno in FILE_SYSTEM_ERRNOS:
            raise file_system_error(err, path, reading=True) from None
        reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path} is truncated or damaged ({reason}); restore it from a copy, or train the run "
                              f"again") from None
    missing = [k for k in required if not isinstance(state, dict) or k not in state]
    if missing:
        found = ", ".join(map(str, list(state)[:6])) if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path} is not a ppl-ssl checkpoint of this kind: it lacks {', '.join(missing)} (it "
                              f"holds {found or 'nothing'}); remove it and train again")
    return state


def load_weights(module: torch.nn.Module, weights: dict, path: Path) -> None:
    """`module.load_state_dict(weights)`, a mismatch (the config no longer describes the weights) in one line."""
    try:
        module.load_state_dict(weights)
    except (RuntimeError, KeyError, TypeError) as err:
        detail = " ".join(str(err).split())
        detail = detail[detail.find("size mismatch"):] if "size mismatch" in detail else detail
        raise CheckpointError(f"the weights in {path} do not fit the model that {Path(path).parent / 'config.toml'} "
                              f"describes ({detail[:200]}); was config.toml edited? Restore it, or train a new run") from None


def load_best_weights(module: torch.nn.Module, paths: RunPaths) -> int | None:
    """For a run trained with train.keep_best: load the weights of its lowest validation loss (RUN/best.pt) and
    return that epoch; None (and the module untouched) when the run has none."""
    if not paths.best.exists():
        return None
    best = load_checkpoint(paths.best, required=("system", "epoch"))
    load_weights(module, best["system"], paths.best)
    return int(best["epoch"])
