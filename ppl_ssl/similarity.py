"""Structural similarity of images: SSIM (Wang, Bovik, Sheikh & Simoncelli 2004) and its multi-scale form MS-SSIM
(Wang, Simoncelli & Bovik 2003), per image, for MSSSIM-VAE's reconstruction term.

At each scale the local means, variances and covariance are Gaussian-weighted (σ = 1.5) over a window of
`window_size` pixels, computed where the window fits inside the image ('valid', as the papers' reference code
filters), with C1 = (0.01·R)², C2 = (0.03·R)² for images in [0, R], R = 1:

    SSIM(x, y) = mean over windows of  (2 μx μy + C1)(2 σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2))
    cs(x, y)   = mean over windows of  (2 σxy + C2) / (σx² + σy² + C2)
    MS-SSIM    = SSIM_M^{w_M} · Π_{j<M} cs_j^{w_j}

the images halved by 2 × 2 average pooling between scales. Wang et al.'s five weights need images of at least
16 windows' width; a 28-pixel image has room for fewer scales, so the scales are as many (up to five) as leave the
window inside the image, and the first that many of the five weights are renormalised to sum to one. Negative
contrast-structure values (anti-correlated windows) are held at a floor of 1e-6 before the fractional powers, as
pytorch-msssim's `nonnegative_ssim` sets them to zero; Pythae's MS-SSIM instead maps each value v to (v + 1)/2 and averages
over the whole batch, not per image.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

WANG_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang, Simoncelli & Bovik (2003), five scales
C1, C2 = 0.01 ** 2, 0.03 ** 2  # (K1·R)², (K2·R)² with K1 = 0.01, K2 = 0.03, R = 1
FLOOR = 1e-6  # below it a term is held (0 itself would give v^w, w < 1, an infinite gradient)


def gaussian_window(size: int, sigma: float = 1.5, dtype=torch.float32, device=None) -> torch.Tensor:
    """The normalised 1-D Gaussian of `size` taps centred on the middle one."""
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-x.pow(2) / (2 * sigma ** 2))
    return g / g.sum()


def _filter(images: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filtering of (N, C, H, W), each channel alone, over the positions where it fits."""
    channels = images.shape[1]
    horizontal = window.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    vertical = window.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    return F.conv2d(F.conv2d(images, horizontal, groups=channels), vertical, groups=channels)


def ssim_and_contrast_structure(x: torch.Tensor, y: torch.Tensor, window_size: int = 11) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image (N,): SSIM and the contrast-structure term cs, each the mean over windows and channels."""
    window = gaussian_window(window_size, dtype=x.dtype, device=x.device)
    mu_x, mu_y = _filter(x, window), _filter(y, window)
    var_x = _filter(x * x, window) - mu_x.pow(2)
    var_y = _filter(y * y, window) - mu_y.pow(2)
    cov = _filter(x * y, window) - mu_x * mu_y
    cs_map = (2 * cov + C2) / (var_x + var_y + C2)
    ssim_map = (2 * mu_x * mu_y + C1) / (mu_x.pow(2) + mu_y.pow(2) + C1) * cs_map
    return ssim_map.flatten(1).mean(1), cs_map.flatten(1).mean(1)


def scales_for(side: int, window_size: int, most: int = len(WANG_WEIGHTS)) -> int:
    """How many scales fit: halving the image (from `side` pixels) as long as the window still fits inside it."""
    scales = 0
    while scales < most and side >= window_size:
        scales, side = scales + 1, side // 2
    return scales


def ms_ssim(x: torch.Tensor, y: torch.Tensor, window_size: int = 11) -> torch.Tensor:
    """MS-SSIM of each pair of images (N, C, H, W) in [0, 1]: (N,), 1 for identical images. A window wider than
    the images is narrowed to their smaller side (one scale)."""
    window_size = min(window_size, *x.shape[-2:])
    scales = scales_for(min(x.shape[-2:]), window_size)
    weights = torch.tensor(WANG_WEIGHTS[:scales], dtype=x.dtype, device=x.device)
    weights = weights / weights.sum()
    value = x.new_ones(x.shape[0])
    for scale in range(scales):
        ssim, cs = ssim_and_contrast_structure(x, y, window_size)
        last = scale == scales - 1
        value = value * (ssim if last else cs).clamp(min=FLOOR).pow(weights[scale])
        if not last:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return value
