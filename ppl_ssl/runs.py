"""A trained run loaded from its folder (`load_run`): its config, its system with the checkpoint's weights, its metrics."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ppl_ssl.config import Config, load_config
from ppl_ssl.data.datasets import image_shape
from ppl_ssl.runtime import resolve_device
from ppl_ssl.storage import RunPaths, load_checkpoint
from ppl_ssl.system import build_system
from ppl_ssl.train.setup import prepare_system


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
    paths = RunPaths(Path(path))
    config = load_config(paths.config)
    dev = resolve_device(device)
    system = build_system(config, image_shape(config.data.dataset, config.data.data_dir, config.data.image_size)).to(dev)
    system.load_state_dict(load_checkpoint(paths.checkpoint)["system"])
    prepare_system(system, config, dev)  # evaluation computes in the run's precision (train.precision) too
    system.eval()
    metrics = json.loads(paths.metrics.read_text()) if paths.metrics.is_file() else {}
    return Run(paths.root, config, system, metrics, dev)
