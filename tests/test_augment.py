"""Batched augmentation: shapes, parameter ranges, identities, reproducibility."""
import dataclasses

import pytest
import torch

from ppl_ssl.augment import Augmenter, _hsv_to_rgb, _rgb_to_hsv, adjust_hue, augment
from ppl_ssl.config import AugmentConfig

COLOUR = AugmentConfig(crop_scale=[0.6, 1.0], crop_ratio=[0.75, 1.3], vflip=0.5, hflip=0.5, brightness=0.8,
                       contrast=0.8, saturation=0.8, hue=0.2, jitter_prob=0.8, grayscale_prob=0.2)


def test_shapes_and_parameter_ranges():
    x = torch.rand(6, 3, 32, 32)
    v = augment(x, 4, COLOUR, torch.Generator().manual_seed(0))
    assert v.images.shape == (6, 4, 3, 32, 32)
    assert 0 <= float(v.images.min()) and float(v.images.max()) <= 1
    p = v.params
    assert all(t.shape == (6, 4) for t in p.values())
    # clipping a side to the image keeps the area at least sqrt(s/r) >= 0.6 for these settings
    assert float(p["crop_scale"].min()) >= 0.6 - 1e-6 and float(p["crop_scale"].max()) <= 1.0 + 1e-6
    for key in ("hflip", "vflip", "jitter", "grayscale"):
        assert set(p[key].unique().tolist()) <= {0.0, 1.0}
    jittered = p["jitter"] == 1
    assert float(p["brightness"][jittered].min()) >= 0.2 and float(p["brightness"][jittered].max()) <= 1.8
    assert float(p["hue"].abs().max()) <= 0.2
    assert torch.all(p["brightness"][~jittered] == 1) and torch.all(p["hue"][~jittered] == 0)


def test_crop_area_and_ratio_follow_the_drawn_box():
    x = torch.rand(200, 1, 28, 28)
    cfg = AugmentConfig(crop_scale=[0.4, 1.0], crop_ratio=[0.75, 1.3], vflip=0.0)
    p = augment(x, 2, cfg, torch.Generator().manual_seed(1)).params
    assert float(p["crop_scale"].min()) >= 0.4 * 0.75 and float(p["crop_scale"].max()) <= 1.0 + 1e-6
    unclipped = p["crop_scale"] < 0.7  # small crops are never clipped to the image: ratio stays in range
    assert float(p["crop_ratio"][unclipped].min()) >= 0.75 - 1e-5 and float(p["crop_ratio"][unclipped].max()) <= 1.3 + 1e-5
    half = 0.5 * torch.sqrt(p["crop_scale"] * p["crop_ratio"])
    assert torch.all(p["crop_x"] - half >= -1e-5) and torch.all(p["crop_x"] + half <= 1 + 1e-5)


def test_disabled_is_the_identity_for_every_view():
    x = torch.rand(3, 3, 16, 16)
    v = augment(x, 5, dataclasses.replace(COLOUR, enabled=False))
    assert torch.equal(v.images, x.unsqueeze(1).expand(3, 5, 3, 16, 16))


def test_zero_strength_settings_are_the_identity():
    x = torch.rand(4, 3, 16, 16)
    cfg = AugmentConfig(crop_scale=[1.0, 1.0], crop_ratio=[1.0, 1.0], vflip=0.0, hflip=0.0)
    v = augment(x, 2, cfg, torch.Generator().manual_seed(0))
    assert torch.allclose(v.images, x.unsqueeze(1).expand_as(v.images), atol=1e-5)


def test_flips_mirror_the_image():
    x = torch.rand(2, 1, 9, 9)
    full = dict(crop_scale=[1.0, 1.0], crop_ratio=[1.0, 1.0])
    v = augment(x, 1, AugmentConfig(**full, vflip=1.0, hflip=0.0)).images[:, 0]
    assert torch.allclose(v, torch.flip(x, dims=[-2]), atol=1e-5)
    h = augment(x, 1, AugmentConfig(**full, vflip=0.0, hflip=1.0)).images[:, 0]
    assert torch.allclose(h, torch.flip(x, dims=[-1]), atol=1e-5)


def test_grayscale_makes_channels_equal_and_hsv_round_trips():
    x = torch.rand(3, 3, 8, 8)
    cfg = AugmentConfig(crop_scale=[1.0, 1.0], crop_ratio=[1.0, 1.0], vflip=0.0, grayscale_prob=1.0)
    g = augment(x, 1, cfg).images[:, 0]
    assert torch.allclose(g[:, 0], g[:, 1]) and torch.allclose(g[:, 1], g[:, 2])
    assert torch.allclose(_hsv_to_rgb(*_rgb_to_hsv(x)), x, atol=1e-5)
    assert torch.allclose(adjust_hue(x, torch.zeros(3)), x, atol=1e-5)
    red = torch.zeros(1, 3, 1, 1)
    red[:, 0] = 1.0
    green = adjust_hue(red, torch.tensor([1 / 3]))  # a third of a turn: red -> green
    assert torch.allclose(green[0, :, 0, 0], torch.tensor([0.0, 1.0, 0.0]), atol=1e-5)


def test_reproducible_from_a_seed_and_different_across_views():
    x = torch.rand(4, 3, 16, 16)
    a = Augmenter(COLOUR, seed=11)(x, 3)
    b = Augmenter(COLOUR, seed=11)(x, 3)
    c = Augmenter(COLOUR, seed=12)(x, 3)
    assert torch.equal(a.images, b.images)
    assert not torch.equal(a.images, c.images)
    assert not torch.allclose(a.images[:, 0], a.images[:, 1])


def test_augmenter_state_round_trips():
    x = torch.rand(2, 1, 12, 12)
    aug = Augmenter(AugmentConfig(), seed=5)
    state = aug.state_dict()
    first = aug(x, 2).images
    aug.load_state_dict(state)
    assert torch.equal(aug(x, 2).images, first)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_the_gpu_like_on_the_cpu():
    x = torch.rand(4, 3, 16, 16, device="cuda")
    v = Augmenter(COLOUR, seed=0, device="cuda")(x, 2)
    assert v.images.device.type == "cuda" and v.images.shape == (4, 2, 3, 16, 16)
