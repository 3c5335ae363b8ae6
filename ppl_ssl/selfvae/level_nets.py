"""Convolutional nets for selfVAE's levels, in one of two architectures (`model.program.architecture`):

- `compact` (default): plain convolutions and ELUs; 28-px grey images train in minutes on a CPU.
- `dense`: the paper's Appendix A.3 for 32/64-px colour: densely connected blocks (DenseNet) each ending in
  channel-wise attention (RCAN), weight-normalised convolutions, ELUs, stride-2 convolutions down and transposed
  convolutions up. (The paper's data-dependent initialisation is not done: weight norm starts from PyTorch's.)

- `ConvFeatures(shape)`: an image (C, H, W) -> a feature vector (stride-2 convolutions down to at most 7-8 px).
- `LatentEncoder`: q(z | image) = N(μ, σ²) from an image's features.
- `ConditionalLatent`: p(z_k | y_k, z_{k-1}) = N(μ, σ²) from the coarser image's features and the previous latent.
- `ImageDecoder`: raw likelihood maps of an image from a latent alone (p(y_1 | u)) or from a latent and the
  coarser image (p(y_{k+1} | y_k, z_k)), upsampling the coarser image when the finer one is larger.
Every net accepts latents with extra leading dims (vectorised particles) and broadcasts the images to them.
"""
from __future__ import annotations

import math
from abc import abstractmethod

import torch
from torch import nn

from torch.nn.utils.parametrizations import weight_norm

from ppl_ssl.nets import GaussianHead
from ppl_ssl.precision import AutocastModule
from ppl_ssl.contracts import BuildContext, Component
from ppl_ssl.registry import Registry


class Blocks(Component):
    """The layers an architecture builds its level nets from (`model.program.architecture`); built from the
    selfVAE program's options."""

    @abstractmethod
    def conv(self, inputs: int, outputs: int, kernel: int = 3) -> nn.Module: ...

    @abstractmethod
    def linear(self, inputs: int, outputs: int) -> nn.Module: ...

    @abstractmethod
    def refine(self, channels: int) -> list[nn.Module]: ...

    @abstractmethod
    def down(self, channels: int) -> list[nn.Module]: ...

    @abstractmethod
    def up(self, channels: int) -> list[nn.Module]: ...


ARCHITECTURES: Registry = Registry("selfVAE architecture", Blocks)


@ARCHITECTURES.register("compact", summary="plain convolutions + ELU (28-px grey images on a CPU)")
class CompactBlocks(Blocks):
    def __init__(self, options=None, context: BuildContext | None = None):
        pass

    def conv(self, inputs: int, outputs: int, kernel: int = 3) -> nn.Module:
        return nn.Conv2d(inputs, outputs, kernel, 1, kernel // 2)

    def linear(self, inputs: int, outputs: int) -> nn.Module:
        return nn.Linear(inputs, outputs)

    def refine(self, channels: int) -> list[nn.Module]:
        return []

    def down(self, channels: int) -> list[nn.Module]:
        return [nn.Conv2d(channels, channels, 4, 2, 1), nn.ELU()]

    def up(self, channels: int) -> list[nn.Module]:
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(channels, channels, 3, 1, 1), nn.ELU()]


COMPACT = CompactBlocks()


class DenseBlock(nn.Module):
    """`layers` 3×3 convolutions, each seeing the block's input and every earlier layer's `growth` maps (feature
    reuse), then a 1×1 transition back to `channels`."""

    def __init__(self, channels: int, growth: int, layers: int):
        super().__init__()
        self.layers = nn.ModuleList([nn.Sequential(weight_norm(nn.Conv2d(channels + i * growth, growth, 3, 1, 1)), nn.ELU())
                                     for i in range(layers)])
        self.transition = weight_norm(nn.Conv2d(channels + layers * growth, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, dim=1)))
        return self.transition(torch.cat(features, dim=1))


class ChannelAttention(nn.Module):
    """Squeeze (global average pool) and excite (two 1×1 convolutions, sigmoid gate): each channel is rescaled by a
    weight in (0, 1) computed from all channels' summaries."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), weight_norm(nn.Conv2d(channels, hidden, 1)), nn.ELU(),
                                  weight_norm(nn.Conv2d(hidden, channels, 1)), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


@ARCHITECTURES.register("dense", summary="the paper's A.3: DenseNet blocks + channel attention, weight norm, ELU (32/64-px colour)")
class DenseAttentionBlocks(Blocks):
    def __init__(self, options=None, context: BuildContext | None = None):
        self.growth = options.growth if options is not None else 16
        self.layers = options.dense_layers if options is not None else 3

    def conv(self, inputs: int, outputs: int, kernel: int = 3) -> nn.Module:
        return weight_norm(nn.Conv2d(inputs, outputs, kernel, 1, kernel // 2))

    def linear(self, inputs: int, outputs: int) -> nn.Module:
        return weight_norm(nn.Linear(inputs, outputs))

    def refine(self, channels: int) -> list[nn.Module]:
        return [DenseBlock(channels, self.growth, self.layers), ChannelAttention(channels), nn.ELU()]

    def down(self, channels: int) -> list[nn.Module]:
        return [*self.refine(channels), weight_norm(nn.Conv2d(channels, channels, 4, 2, 1)), nn.ELU()]

    def up(self, channels: int) -> list[nn.Module]:
        return [*self.refine(channels), weight_norm(nn.ConvTranspose2d(channels, channels, 4, 2, 1)), nn.ELU()]


def _halvings(size: int, smallest: int = 4) -> int:
    """How many times `size` halves evenly while staying at least `smallest` (28 -> 2: 14, 7)."""
    count = 0
    while size % 2 == 0 and size // 2 >= smallest and size > 8:
        size //= 2
        count += 1
    return count


class ConvFeatures(nn.Module):
    def __init__(self, shape: tuple[int, int, int], channels: int, blocks=COMPACT):
        super().__init__()
        c, h, w = shape
        layers, size = [blocks.conv(c, channels), nn.ELU()], h
        for _ in range(_halvings(h)):
            layers += blocks.down(channels)
            size //= 2
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.out_features = channels * size * (w * size // h)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        lead = images.shape[:-3]
        return self.net(images.reshape(-1, *images.shape[-3:])).reshape(*lead, -1)


def _broadcast(images: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
    """Images (N, C, H, W) expanded to a latent's leading dims (..., N, L) -> (..., N, C, H, W)."""
    return images.expand(*latent.shape[:-1], *images.shape[-3:])


class LatentEncoder(AutocastModule):
    """q(z | image): the amortised Gaussian of one level."""

    def __init__(self, shape: tuple[int, int, int], latent_dim: int, channels: int, blocks=COMPACT):
        super().__init__()
        self.features = ConvFeatures(shape, channels, blocks)
        self.head = GaussianHead(self.features.out_features, latent_dim)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.features(images))


class ConditionalLatent(AutocastModule):
    """p(z_k | y_k, z_{k-1}): a Gaussian whose mean and scale depend on the coarser image and the previous latent."""

    def __init__(self, coarse_shape: tuple[int, int, int], previous_dim: int, latent_dim: int, channels: int,
                 blocks=COMPACT, hidden: int = 256):
        super().__init__()
        self.features = ConvFeatures(coarse_shape, channels, blocks)
        self.mlp = nn.Sequential(blocks.linear(self.features.out_features + previous_dim, hidden), nn.ELU())
        self.head = GaussianHead(hidden, latent_dim)

    def forward(self, coarse: torch.Tensor, previous: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.cat([self.features(_broadcast(coarse, previous)), previous], dim=-1)
        return self.head(self.mlp(h))


class ImageDecoder(AutocastModule):
    """Raw likelihood maps (..., P, H, W) of an image of `shape` from a latent, and the coarser image if given."""

    def __init__(self, shape: tuple[int, int, int], latent_dim: int, raw_channels: int, channels: int,
                 coarse_shape: tuple[int, int, int] | None = None, blocks=COMPACT):
        super().__init__()
        _, h, w = shape
        if coarse_shape is None:                  # p(y_1 | u): start small and upsample to the image's size
            upsamplings, extra = _halvings(h), 0
            self.start = (h >> upsamplings, w >> upsamplings)
        else:                                      # p(y_{k+1} | y_k, z_k): start at the coarse image's size
            self.start = coarse_shape[1:]
            upsamplings, extra = int(round(math.log2(h / coarse_shape[1]))), coarse_shape[0]
        self.conditional = coarse_shape is not None
        self.project = nn.Sequential(blocks.linear(latent_dim, channels * self.start[0] * self.start[1]), nn.ELU())
        layers: list[nn.Module] = [blocks.conv(channels + extra, channels), nn.ELU()]
        for _ in range(upsamplings):
            layers += blocks.up(channels)
        layers += [*blocks.refine(channels), blocks.conv(channels, raw_channels, 1)]
        self.net = nn.Sequential(*layers)
        self.channels = channels

    def forward(self, latent: torch.Tensor, coarse: torch.Tensor | None = None) -> torch.Tensor:
        lead = latent.shape[:-1]
        h = self.project(latent.reshape(-1, latent.shape[-1])).view(-1, self.channels, *self.start)
        if self.conditional:
            h = torch.cat([h, _broadcast(coarse, latent).reshape(-1, *coarse.shape[-3:])], dim=1)
        out = self.net(h)
        return out.reshape(*lead, *out.shape[1:])
