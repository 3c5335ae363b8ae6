"""Deterministic, discrete self-supervised transformations y = d(x) of 8-bit images (selfVAE's q(y | x) = δ(d(x))).

Each maps float images (N, C, H, W) with values k/255 to images on the same 8-bit grid, batched on the images'
device, so y is discrete as the selfVAE paper requires. Chosen by name (`TRANSFORMS`).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ppl_ssl.augment import to_grayscale
from ppl_ssl.contracts import BuildContext, Transform
from ppl_ssl.distributions import quantise
from ppl_ssl.errors import ConfigError
from ppl_ssl.registry import TRANSFORMS


@TRANSFORMS.register("downscale", summary="2×2 average pooling (half the height and width), quantised to 8 bits")
class Downscale(Transform):
    def __init__(self, options=None, context: BuildContext | None = None):
        pass

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return downscale(x)


@TRANSFORMS.register("sketch", summary="pencil sketch: colour dodge of the grey image with its blurred inverse (selfVAE A.6)")
class Sketch(Transform):
    """Options: the selfVAE program's (`sketch_blur`, the blur's σ in pixels)."""

    def __init__(self, options=None, context: BuildContext | None = None):
        self.blur_sigma = options.sketch_blur if options is not None else 1.5

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return sketch(x, self.blur_sigma)


def downscale(x: torch.Tensor) -> torch.Tensor:
    """The mean of each 2×2 block, rounded half up to the 8-bit grid — in integers, so exact on every device."""
    if x.shape[-1] % 2 or x.shape[-2] % 2:
        raise ConfigError(f"downscale halves the image, but {x.shape[-2]}×{x.shape[-1]} px is odd; use fewer "
                          f"model.program.levels (each level halves the size)")
    levels = torch.round(x * 255)
    block_sums = F.avg_pool2d(levels, 2, divisor_override=1)   # integer sums of four levels, exact in float32
    return torch.div(block_sums + 2, 4, rounding_mode="floor") / 255


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (kernel radius 3σ, reflected borders)."""
    radius = max(1, int(math.ceil(3 * sigma)))
    radius = min(radius, x.shape[-1] - 1, x.shape[-2] - 1)
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def sketch(x: torch.Tensor, blur_sigma: float = 1.5) -> torch.Tensor:
    """dodge(g, blur(1 − g)) = g / (1 − blur(1 − g)), clipped to 1: flat regions turn white, edges stay dark.
    One channel whatever the input's."""
    grey = to_grayscale(x)
    blurred_inverse = gaussian_blur(1 - grey, blur_sigma)
    denominator = 1 - blurred_inverse
    dodged = torch.where(denominator > 1e-6, grey / denominator.clamp(min=1e-6), torch.ones_like(grey))
    return quantise(dodged)


def transform_chain(x: torch.Tensor, transform: Transform | str, levels: int) -> list[torch.Tensor]:
    """[y_1, …, y_K, x] for `levels` = K + 1 images: y_K = d(x), y_{k} = d(y_{k+1}); coarsest first.
    `transform`: a built transform, or a registered name (built with its default options)."""
    d = TRANSFORMS.build(transform, None, BuildContext(None)) if isinstance(transform, str) else transform
    chain = [x]
    for _ in range(levels - 1):
        chain.insert(0, d(chain[0]))
    return chain
