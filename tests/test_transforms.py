"""Self-supervised transforms: deterministic, the right sizes, on the 8-bit grid; flat stays flat."""
import pytest
import torch

from ppl_ssl.errors import ConfigError
from ppl_ssl.selfvae.transforms import downscale, gaussian_blur, sketch, transform_chain


def _images(n=4, c=1, size=28, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, size, size), generator=g).float() / 255


@pytest.mark.parametrize("transform", [downscale, sketch])
@pytest.mark.parametrize("channels", [1, 3])
def test_transforms_are_deterministic_and_on_the_8_bit_grid(transform, channels):
    x = _images(c=channels)
    y = transform(x)
    assert torch.equal(y, transform(x.clone()))
    assert torch.equal(y, torch.round(y * 255) / 255) and float(y.min()) >= 0 and float(y.max()) <= 1


def test_downscale_halves_the_size_and_keeps_constants():
    x = _images(c=3, size=32)
    assert downscale(x).shape == (4, 3, 16, 16)
    flat = torch.full((2, 3, 8, 8), 77 / 255)
    assert torch.equal(downscale(flat), flat[..., :4, :4])
    levels = (x * 255).round().long().unfold(2, 2, 2).unfold(3, 2, 2).sum((-1, -2))  # integer block sums
    assert torch.equal(downscale(x), ((levels + 2) // 4).float() / 255)  # the block mean rounded half up
    with pytest.raises(ConfigError, match="odd"):
        downscale(torch.zeros(1, 1, 7, 7))


def test_sketch_is_one_channel_flat_for_a_flat_image_and_dark_at_edges():
    assert sketch(_images(c=3)).shape == (4, 1, 28, 28)
    for value in (0, 30, 255):
        flat = torch.full((1, 1, 16, 16), value / 255)
        assert torch.equal(sketch(flat), torch.ones_like(flat))  # a flat image has no edges: white paper
    step = torch.zeros(1, 1, 16, 16)
    step[..., 8:] = 1.0  # a vertical edge between black and white
    s = sketch(step)
    assert float(s[..., 4, 7]) < 0.5 and float(s[..., 4, 0]) == 1.0 and float(s[..., 4, 15]) == 1.0


def test_blur_preserves_mass_and_constants():
    x = _images(size=16)
    assert torch.allclose(gaussian_blur(torch.full_like(x, 0.3), 1.5), torch.full_like(x, 0.3), atol=1e-6)
    assert gaussian_blur(x, 1.0).shape == x.shape


def test_transform_chain_goes_from_coarse_to_fine():
    x = _images(size=28)
    chain = transform_chain(x, "downscale", levels=3)
    assert [c.shape[-1] for c in chain] == [7, 14, 28] and chain[-1] is x
    assert torch.equal(chain[0], downscale(chain[1]))
    assert [c.shape[1] for c in transform_chain(_images(c=3), "sketch", levels=2)] == [1, 3]
