"""SSIM and MS-SSIM (ppl_ssl/similarity.py) against a direct computation, and MSSSIM-VAE (models/msssim_vae.py)."""
import numpy as np
import pyro.poutine as poutine
import pytest
import torch

from ppl_ssl.errors import ConfigError
from ppl_ssl.similarity import WANG_WEIGHTS, gaussian_window, ms_ssim, scales_for, ssim_and_contrast_structure
from ppl_ssl.system import build_system
from tests.conftest import tiny_config


def ssim_by_windows(x: np.ndarray, y: np.ndarray, size: int, sigma: float = 1.5) -> tuple[float, float]:
    """Wang et al.'s SSIM and cs of two grey images, window by window: the Gaussian-weighted statistics of each
    position where the window fits, then the mean of the map (the definition, without convolutions)."""
    g = np.exp(-((np.arange(size) - (size - 1) / 2) ** 2) / (2 * sigma ** 2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ssims, css = [], []
    for i in range(x.shape[0] - size + 1):
        for j in range(x.shape[1] - size + 1):
            a, b = x[i:i + size, j:j + size], y[i:i + size, j:j + size]
            ma, mb = (w * a).sum(), (w * b).sum()
            va, vb = (w * (a - ma) ** 2).sum(), (w * (b - mb) ** 2).sum()
            cov = (w * (a - ma) * (b - mb)).sum()
            cs = (2 * cov + c2) / (va + vb + c2)
            css.append(cs)
            ssims.append((2 * ma * mb + c1) / (ma ** 2 + mb ** 2 + c1) * cs)
    return float(np.mean(ssims)), float(np.mean(css))


@pytest.mark.parametrize("size", [3, 7, 11])
def test_ssim_is_the_mean_over_windows_of_the_definition(size):
    torch.manual_seed(0)
    x = torch.rand(3, 1, 16, 16, dtype=torch.float64)
    y = (x + 0.2 * torch.randn_like(x)).clamp(0, 1)
    ssim, cs = ssim_and_contrast_structure(x, y, size)
    for n in range(3):
        expected = ssim_by_windows(x[n, 0].numpy(), y[n, 0].numpy(), size)
        assert (float(ssim[n]), float(cs[n])) == pytest.approx(expected, rel=1e-9)
    assert float(gaussian_window(size).sum()) == pytest.approx(1.0)


def test_ms_ssim_is_one_for_identical_images_symmetric_and_falls_with_noise():
    torch.manual_seed(1)
    x = torch.rand(4, 1, 28, 28, dtype=torch.float64)
    assert torch.allclose(ms_ssim(x, x), torch.ones(4, dtype=torch.float64))
    noisy = [(x + s * torch.randn_like(x)).clamp(0, 1) for s in (0.05, 0.2, 0.5)]
    values = [ms_ssim(x, n) for n in noisy]
    assert torch.allclose(ms_ssim(x, noisy[1]), ms_ssim(noisy[1], x))
    assert bool((values[0] > values[1]).all() and (values[1] > values[2]).all())
    # two scales fit a 28-pixel image under an 11-pixel window: cs at the first, SSIM at the second, weighted by
    # Wang et al.'s first two weights renormalised
    assert scales_for(28, 11) == 2 and scales_for(28, 3) == 4 and scales_for(256, 11) == 5
    ssim1, cs1 = ssim_and_contrast_structure(x, noisy[1], 11)
    ssim2, _ = ssim_and_contrast_structure(torch.nn.functional.avg_pool2d(x, 2),
                                           torch.nn.functional.avg_pool2d(noisy[1], 2), 11)
    w = torch.tensor(WANG_WEIGHTS[:2], dtype=torch.float64)
    w = w / w.sum()
    assert torch.allclose(values[1], cs1 ** w[0] * ssim2 ** w[1])
    small = x[..., :8, :8]  # a window wider than the images is narrowed to them: one scale, SSIM itself
    assert torch.allclose(ms_ssim(small, noisy[1][..., :8, :8], 11), ssim_and_contrast_structure(small, noisy[1][..., :8, :8], 8)[0])


def test_msssim_vae_optimises_ms_ssim_and_the_kl_and_has_no_likelihood(tmp_path):
    torch.manual_seed(0)
    system = build_system(tiny_config("msssim-vae", "model.program.window_size=3", "augment.enabled=false"), (1, 8, 8))
    views = torch.rand(5, 1, 1, 8, 8)
    guide = poutine.trace(system.guide).get_trace(views)
    model = poutine.trace(poutine.replay(system.model, trace=guide)).get_trace(views)
    assert not any(site["type"] == "sample" and site["is_observed"] and site["name"] != "ms_ssim"
                   for site in model.nodes.values())  # no observed x: MS-SSIM is not a density
    z = guide.nodes["z"]["value"]
    decoded = system.model.likelihood.mean(system.model.decoder(z))
    by_hand = -(1 - ms_ssim(decoded.flatten(0, 1), views.flatten(0, 1), 3)).sum()
    assert float(model.nodes["ms_ssim"]["fn"].log_factor.detach()) == pytest.approx(float(by_hand.detach()), rel=1e-5)
    from ppl_ssl.evaluation.likelihood import held_out_log_likelihood
    with pytest.raises(ConfigError, match="no log p\\(x\\) to estimate"):
        held_out_log_likelihood(system, (255 * torch.rand(3, 1, 8, 8)).to(torch.uint8), 4)
