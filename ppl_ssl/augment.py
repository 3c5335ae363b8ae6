"""SimCLR-style augmentation, batched on the device.

One call turns B images into B×J views, each with its own random parameters, in a handful of tensor
operations (one `grid_sample` for crop + flips, element-wise colour ops) instead of a Python loop over images.
The sampled parameters are returned too, so representations can later be probed for them (style retention).

Differences from torchvision, deliberate: the crop's width and height are clipped to the image instead of
re-drawn (torchvision retries 10 times), and colour jitter applies brightness, contrast, saturation, hue in
this fixed order (torchvision permutes it per image).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ppl_ssl.options import between, non_negative, option, ordered_pair, positive, probability

@dataclass
class AugmentConfig:
    """The augmentation's options (the config's [augment] section)."""

    enabled: bool = True
    crop_scale: list[float] = option([0.4, 1.0], ordered_pair(between(0, 1, low_open=True),
                                                         "[smallest, largest] area fractions with 0 < smallest ≤ largest ≤ 1"))
    crop_ratio: list[float] = option([0.75, 1.3], ordered_pair(positive(), "[smallest, largest] aspect ratios with 0 < smallest ≤ largest"))
    hflip: float = option(0.0, probability())
    vflip: float = option(0.5, probability())
    brightness: float = option(0.0, non_negative())
    contrast: float = option(0.0, non_negative())
    saturation: float = option(0.0, non_negative())
    hue: float = option(0.0, between(0, 0.5))
    jitter_prob: float = option(0.0, probability())
    grayscale_prob: float = option(0.0, probability())
    # View 1 is the image itself and only the others are augmented: x and t(x) of Sinha & Dieng's CR-VAE.
    original_first: bool = False



_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601 weights, as torchvision's rgb_to_grayscale


@dataclass
class Views:
    """Augmented views (B, J, C, H, W) and the parameters that made them, each (B, J)."""

    images: torch.Tensor
    params: dict[str, torch.Tensor]


class Augmenter:
    """Draws J random views of each image of a batch from a seeded generator on the images' device."""

    def __init__(self, config: AugmentConfig, seed: int = 0, device: torch.device | str = "cpu"):
        self.config = config
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)

    def __call__(self, images: torch.Tensor, views: int) -> Views:
        return augment(images, views, self.config, self.generator)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"].cpu())  # generator states are CPU byte tensors


def augment(images: torch.Tensor, views: int, config: AugmentConfig, generator: torch.Generator | None = None) -> Views:
    """Random views of float images (B, C, H, W) in [0, 1] -> Views with images (B, J, C, H, W)."""
    b, c, h, w = images.shape
    n = b * views
    device = images.device
    x = images.unsqueeze(1).expand(b, views, c, h, w).reshape(n, c, h, w)

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, device=device, generator=generator)

    def coin(p: float) -> torch.Tensor:
        return torch.rand(n, device=device, generator=generator) < p

    cfg = config
    ones = torch.ones(n, device=device)
    if not cfg.enabled:
        params = _identity_params(ones)
        return Views(x.reshape(b, views, c, h, w).clone(), {k: v.reshape(b, views) for k, v in params.items()})

    # Random resized crop: area fraction s and aspect ratio r give width sqrt(s r), height sqrt(s / r).
    scale = uniform(*cfg.crop_scale)
    ratio = torch.exp(uniform(math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1])))
    crop_w = torch.sqrt(scale * ratio).clamp(max=1.0)
    crop_h = torch.sqrt(scale / ratio).clamp(max=1.0)
    centre_x = crop_w / 2 + (1 - crop_w) * torch.rand(n, device=device, generator=generator)
    centre_y = crop_h / 2 + (1 - crop_h) * torch.rand(n, device=device, generator=generator)
    hflip, vflip = coin(cfg.hflip), coin(cfg.vflip)
    # One affine map per view (output [-1, 1]^2 -> input coordinates); a flip negates the axis' scale.
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0] = torch.where(hflip, -crop_w, crop_w)
    theta[:, 1, 1] = torch.where(vflip, -crop_h, crop_h)
    theta[:, 0, 2] = 2 * centre_x - 1
    theta[:, 1, 2] = 2 * centre_y - 1
    grid = F.affine_grid(theta, [n, c, h, w], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    jitter = coin(cfg.jitter_prob)
    factors = {}
    for name, strength in (("brightness", cfg.brightness), ("contrast", cfg.contrast), ("saturation", cfg.saturation)):
        factors[name] = torch.where(jitter, uniform(max(0.0, 1 - strength), 1 + strength), ones)
    hue = torch.where(jitter, uniform(-cfg.hue, cfg.hue), ones * 0)
    if cfg.jitter_prob > 0:
        x = adjust_brightness(x, factors["brightness"])
        x = adjust_contrast(x, factors["contrast"])
        if c == 3:
            x = adjust_saturation(x, factors["saturation"])
            if cfg.hue > 0:
                x = adjust_hue(x, hue)
    grayscale = coin(cfg.grayscale_prob) if c == 3 else torch.zeros(n, dtype=torch.bool, device=device)
    if c == 3 and cfg.grayscale_prob > 0:
        x = torch.where(grayscale[:, None, None, None], to_grayscale(x).expand_as(x), x)

    params = {"crop_scale": crop_w * crop_h, "crop_ratio": crop_w / crop_h, "crop_x": centre_x, "crop_y": centre_y,
              "hflip": hflip.float(), "vflip": vflip.float(), "jitter": jitter.float(), "hue": hue,
              "grayscale": grayscale.float(), **factors}
    x, params = x.reshape(b, views, c, h, w), {k: v.reshape(b, views) for k, v in params.items()}
    if cfg.original_first:
        # Drawn like the others (so the random stream does not depend on the option), then replaced.
        x = torch.cat([images.unsqueeze(1).to(x.dtype), x[:, 1:]], dim=1)
        identity = _identity_params(ones.reshape(b, views)[:, :1])
        params = {k: torch.cat([identity[k], v[:, 1:]], dim=1) for k, v in params.items()}
    return Views(x, params)


def _identity_params(ones: torch.Tensor) -> dict[str, torch.Tensor]:
    """The parameters of a view that is the image itself."""
    zeros = ones * 0
    return {"crop_scale": ones, "crop_ratio": ones, "crop_x": 0.5 * ones, "crop_y": 0.5 * ones, "hflip": zeros,
            "vflip": zeros, "jitter": zeros, "brightness": ones, "contrast": ones, "saturation": ones, "hue": zeros,
            "grayscale": zeros}


def _per_image(factor: torch.Tensor) -> torch.Tensor:
    return factor[:, None, None, None]


@functools.lru_cache(maxsize=None)
def constant(values: tuple[float, ...], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A small constant tensor, made once per device and dtype: building it from a Python list inside a step would
    be a blocking host-to-device copy on a GPU, every step."""
    return torch.tensor(values, device=device, dtype=dtype)


def to_grayscale(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 1, H, W) luminance; single-channel images are returned as they are."""
    if x.shape[1] == 1:
        return x
    weights = constant(_LUMA, x.device, x.dtype)
    return (x * weights[:, None, None]).sum(1, keepdim=True)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return (x * _per_image(factor)).clamp_(0, 1)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    mean = to_grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
    return (mean + _per_image(factor) * (x - mean)).clamp_(0, 1)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    gray = to_grayscale(x)
    return (gray + _per_image(factor) * (x - gray)).clamp_(0, 1)


def adjust_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the hue of RGB images by `shift` (fraction of a turn, in [-0.5, 0.5]) through HSV."""
    h, s, v = _rgb_to_hsv(x)
    h = torch.remainder(h + _per_image(shift)[:, 0], 1.0)
    return _hsv_to_rgb(h, s, v)


def _rgb_to_hsv(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    delta = maxc - minc
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    s = torch.where(maxc > 0, delta / torch.where(maxc > 0, maxc, torch.ones_like(maxc)), torch.zeros_like(maxc))
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    h = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.where(delta > 0, torch.remainder(h / 6.0, 1.0), torch.zeros_like(h))
    return h, s, maxc


def _hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    # Each channel k in (5, 3, 1): v - v s max(0, min(t, 4 - t, 1)) with t = (k + 6h) mod 6.
    k = constant((5.0, 3.0, 1.0), h.device, h.dtype)[None, :, None, None]
    t = torch.remainder(k + 6.0 * h.unsqueeze(1), 6.0)
    return (v.unsqueeze(1) - v.unsqueeze(1) * s.unsqueeze(1) * torch.clamp(torch.minimum(t, 4.0 - t), 0.0, 1.0)).clamp_(0, 1)
