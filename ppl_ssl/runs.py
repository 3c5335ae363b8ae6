"""Run folders: resolved config, checkpoints (atomic, weights-only), metrics, training log, figures.

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
from ppl_ssl.config import Config, load_config
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


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict:
    if not path.is_file():
        raise ConfigError(f"no checkpoint at {path}; train the run first (experiments/fit.py --out {path.parent})")
    return torch.load(path, map_location=device, weights_only=True)


class Run:
    """A trained run loaded from its folder: its config, system and metrics, and what users do with them."""

    def __init__(self, root: Path, config: Config, system, metrics: dict, device: torch.device):
        self.root, self.paths, self.config, self.system, self.metrics, self.device = root, RunPaths(root), config, system, metrics, device

    def _batched(self, fn, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        images = self.checked_images(images)
        outs = [fn(images[i : i + batch_size].to(self.device, torch.float32)) for i in range(0, len(images), batch_size)]
        return torch.cat(outs).cpu()

    def checked_images(self, images) -> torch.Tensor:
        """Images as the model takes them, float (N, C, H, W) in [0, 1] (uint8 images are divided by 255); anything
        else is a ValueError (TypeError for a non-tensor) naming what is wrong and the fix."""
        from ppl_ssl.data.datasets import image_shape

        d = self.config.data
        shape = image_shape(d.dataset, d.data_dir, d.image_size)
        wanted = f"(N, {', '.join(map(str, shape))})"
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"images must be a torch.Tensor of shape {wanted}, got {type(images).__name__}; "
                            f"use torch.as_tensor(...)")
        if images.dim() != 4 or tuple(images.shape[1:]) != shape:
            hint = "; add a batch dimension with images[None]" if tuple(images.shape) == shape else ""
            raise ValueError(f"images have shape {tuple(images.shape)}, this run's model takes {wanted} "
                             f"({self.config.data.dataset}){hint}")
        if images.dtype == torch.uint8:
            return images.float() / 255
        if not images.is_floating_point():
            raise ValueError(f"images have dtype {images.dtype}; pass floats in [0, 1] or uint8 pixels")
        if not bool(torch.isfinite(images).all()):
            raise ValueError("images contain NaN or infinite values; the model takes floats in [0, 1]")
        low, high = float(images.min()), float(images.max())
        if low < 0 or high > 1:
            raise ValueError(f"images range over [{low:.3g}, {high:.3g}]; the model takes floats in [0, 1] "
                             f"(divide uint8 pixels by 255)")
        return images

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Posterior means (N, L) of images (N, C, H, W): floats in [0, 1] or uint8 pixels."""
        return self._batched(self.system.encode, images)

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        return self._batched(self.system.reconstruct, images)

    def sample(self, n: int) -> torch.Tensor:
        """n images decoded from prior samples: (n, C, H, W)."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"sample(n) needs a positive integer n, got {n!r}")
        return self.system.sample(n).cpu()

    def __repr__(self) -> str:
        return f"Run({str(self.root)!r}, model={self.config.name!r}, dataset={self.config.data.dataset!r})"


def load_run(path: str | Path, device: str = "cpu") -> Run:
    """Rebuild a run's system from its config.toml alone and load its checkpoint's weights."""
    from ppl_ssl.data.datasets import image_shape
    from ppl_ssl.runtime import resolve_device
    from ppl_ssl.system import build_system
    from ppl_ssl.training import prepare_system

    paths = RunPaths(Path(path))
    config = load_config(paths.config)
    dev = resolve_device(device)
    system = build_system(config, image_shape(config.data.dataset, config.data.data_dir, config.data.image_size)).to(dev)
    system.load_state_dict(load_checkpoint(paths.checkpoint, dev)["system"])
    prepare_system(system, config, dev)  # evaluation computes in the run's precision (train.precision) too
    system.eval()
    metrics = json.loads(paths.metrics.read_text()) if paths.metrics.is_file() else {}
    return Run(paths.root, config, system, metrics, dev)
