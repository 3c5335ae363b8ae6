"""A trained run loaded from its folder (`load_run`): its config, its system with the checkpoint's weights, its metrics,
and its decoder: the model's own, or for an encoder without one the post-hoc decoder `ppl-ssl decode` fitted."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

import torch

from ppl_ssl.config import Config, listed_differences, load_config, trained_differences
from ppl_ssl.contracts import BuildContext
from ppl_ssl.data.datasets import image_shape
from ppl_ssl.runtime import resolve_device
from ppl_ssl.errors import CheckpointError
from ppl_ssl.registry import LIKELIHOODS, NETS
from ppl_ssl.storage import RunPaths, load_best_weights, load_checkpoint, load_weights, read_json
from ppl_ssl.system import build_system
from ppl_ssl.train.setup import prepare_system


class PosthocDecoder(torch.nn.Module):
    """The run's decoder architecture followed by its likelihood's mean link: codes (..., L) -> images. Fitted to a
    frozen encoder by `ppl_ssl.posthoc` and kept in RUN/posthoc_decoder.pt."""

    def __init__(self, config: Config, image_shape):
        super().__init__()
        context = BuildContext(config, tuple(image_shape), config.model.latent_dim)
        self.link = LIKELIHOODS.build(config.model.likelihood.kind, config.model.likelihood.options, context)
        context = context.with_parts(output_channels=self.link.raw_channels(image_shape[0]))
        _, self.decoder = NETS.build(config.nets.kind, config.nets.options, context)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.link.mean(self.decoder(z))


def posthoc_path(root: Path) -> Path:
    return Path(root) / "posthoc_decoder.pt"


def load_posthoc_decoder(run: "Run", image_shape) -> PosthocDecoder | None:
    """The run's finished post-hoc decoder, or None if none has been fitted to the end."""
    path = posthoc_path(run.root)
    if not path.exists():
        return None
    state = load_checkpoint(path, required=("summary",))
    if state["summary"] is None:
        return None
    decoder = PosthocDecoder(run.config, image_shape).to(run.device)
    load_weights(decoder, state["best_decoder"], path)
    return decoder.eval()


class Run:
    """A trained run loaded from its folder: its config, system and metrics, and what users do with them."""

    def __init__(self, root: Path, config: Config, system, metrics: dict, device: torch.device,
                 best_epoch: int | None = None):
        self.root, self.paths, self.config, self.system, self.metrics, self.device = root, RunPaths(root), config, system, metrics, device
        self.best_epoch = best_epoch  # train.keep_best: the epoch whose weights were loaded (RUN/best.pt)

    def _batched(self, fn, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        images = self.checked_images(images)
        starts = range(0, len(images), batch_size) if len(images) else [0]  # an empty batch: one empty forward
        outs = [fn(images[i : i + batch_size].to(self.device, torch.float32)) for i in starts]
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
        if images.numel() == 0:
            return images.float()
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

    @functools.cached_property
    def decoder(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """codes (N, L) -> images: the model's decoder, or for an encoder without one (SimCLR, VICReg, MoCo) the
        post-hoc decoder fitted by `ppl-ssl decode RUN`; None when it has neither."""
        if self.system.can_decode:
            return self.system.decode
        d = self.config.data
        posthoc = load_posthoc_decoder(self, image_shape(d.dataset, d.data_dir, d.image_size))
        return None if posthoc is None else torch.no_grad()(posthoc)

    def _require_decoder(self, what: str) -> Callable[[torch.Tensor], torch.Tensor]:
        if self.decoder is None:
            raise ValueError(f"{what} needs a decoder, and run {self.root} (method '{self.config.method.kind}') has none; "
                             f"fit one to its frozen encoder with: ppl-ssl decode {self.root}")
        return self.decoder

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """Images decoded from their codes (through the post-hoc decoder for an encoder without a decoder)."""
        if self.system.can_decode:
            return self._batched(self.system.reconstruct, images)
        decoder = self._require_decoder("reconstruct")
        return self._batched(lambda x: decoder(self.system.encode(x)), images)

    def sample(self, n: int) -> torch.Tensor:
        """n images decoded from prior samples: (n, C, H, W). An encoder without a prior (a discriminative method,
        even with a post-hoc decoder) is sampled through a sampler fitted on its codes: `ppl-ssl sample RUN
        --sampler gmm`, or `ppl_ssl.sample_run`."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"sample(n) needs a positive integer n, got {n!r}")
        if not self.system.can_decode:
            self._require_decoder("sample")
            raise ValueError(f"method '{self.config.method.kind}' has no prior to sample from; sample codes from a "
                             f"sampler fitted on its training codes and decode them with the post-hoc decoder: "
                             f"ppl-ssl sample {self.root} --sampler gmm (or ppl_ssl.sample_run)")
        return self.system.sample(n).cpu()

    def __repr__(self) -> str:
        return f"Run({str(self.root)!r}, model={self.config.name!r}, dataset={self.config.data.dataset!r})"


def load_run(path: str | Path, device: str = "cpu") -> Run:
    """Rebuild a run's system from its config.toml alone and load its checkpoint's weights."""
    paths = RunPaths(Path(path))
    config = load_config(paths.config)
    state = load_checkpoint(paths.checkpoint)
    if state.get("config"):
        differences = trained_differences(state["config"], config)
        if differences:
            listed = listed_differences(differences, "trained with", "now")
            raise CheckpointError(f"{paths.config} no longer describes the run its checkpoint holds: {listed}; put the "
                                  f"trained values back (eval.* may change freely)")
    dev = resolve_device(device)
    system = build_system(config, image_shape(config.data.dataset, config.data.data_dir, config.data.image_size)).to(dev)
    load_weights(system, state["system"], paths.checkpoint)
    best_epoch = load_best_weights(system, paths) if config.train.keep_best else None  # what evaluation scored
    prepare_system(system, config, dev)  # evaluation computes in the run's precision (train.precision) too
    system.eval()
    metrics = read_json(paths.metrics, default={})
    return Run(paths.root, config, system, metrics, dev, best_epoch)
