"""The style-retention probe: it finds a planted augmentation parameter and reports chance without one."""
import numpy as np
import pytest
import torch

from ppl_ssl.config import AugmentConfig
from ppl_ssl.data import as_float
from ppl_ssl.evaluation import augmented_views, evaluate_style, style_probe_scores


def _params(rng, n):
    return {"crop_scale": rng.uniform(0.4, 1.0, n), "crop_x": rng.uniform(0.2, 0.8, n), "vflip": (rng.random(n) < 0.5).astype(float),
            "hflip": np.zeros(n)}


def test_probe_recovers_planted_parameters_and_scores_chance_without_them():
    rng = np.random.default_rng(0)
    train, test = _params(rng, 2000), _params(rng, 2000)
    noise = lambda n: rng.normal(size=(n, 6))  # noqa: E731
    planted = lambda p, n: np.column_stack([p["crop_scale"], np.sin(6 * p["crop_x"]), 2 * p["vflip"] - 1, noise(n)])  # noqa: E731
    keeps = style_probe_scores(planted(train, 2000), train, planted(test, 2000), test)
    assert keeps["style_r2_crop_scale"] > 0.95 and keeps["style_r2_crop_x"] > 0.9  # non-linear in the code: the MLP finds it
    assert keeps["style_accuracy_vflip"] > 0.98
    invariant = style_probe_scores(noise(2000), train, noise(2000), test)
    assert abs(invariant["style_r2_crop_scale"]) < 0.05 and abs(invariant["style_r2_crop_x"]) < 0.05
    assert abs(invariant["style_accuracy_vflip"] - 0.5) < 0.05 and 0.45 < invariant["style_chance_vflip"] < 0.55
    assert "style_r2_hflip" not in keeps and "style_accuracy_hflip" not in keeps  # a parameter that never varies
    assert keeps["style_r2_mean"] == pytest.approx((keeps["style_r2_crop_scale"] + keeps["style_r2_crop_x"]) / 2)


def test_augmented_views_return_the_parameters_that_made_them():
    images = (torch.rand(50, 1, 12, 12) * 255).to(torch.uint8)
    config = AugmentConfig(crop_scale=[0.5, 1.0], vflip=0.5)
    features, params = augmented_views(lambda x: x.flatten(1), images, config, seed=3)
    again, params_again = augmented_views(lambda x: x.flatten(1), images, config, seed=3)
    assert np.array_equal(features, again) and all(np.array_equal(params[k], params_again[k]) for k in params)
    flipped = params["vflip"] == 1
    assert 0 < flipped.sum() < 50 and set(params) >= {"crop_scale", "crop_x", "crop_y", "vflip"}
    # a view at full scale and no flip is the image itself; a flipped one is its mirror
    full = AugmentConfig(crop_scale=[1.0, 1.0], crop_ratio=[1.0, 1.0], vflip=1.0)
    mirrored, _ = augmented_views(lambda x: x.flatten(1), images[:3], full, seed=0)
    assert np.allclose(mirrored, as_float(images[:3]).flip(2).flatten(1).numpy(), atol=1e-5)


class _Splits:
    def __init__(self, n=1500):
        g = torch.Generator().manual_seed(0)
        self.val_x = (torch.rand(n, 1, 10, 10, generator=g) * 255).to(torch.uint8)
        self.test_x = (torch.rand(n, 1, 10, 10, generator=g) * 255).to(torch.uint8)


def test_an_encoder_that_sees_orientation_keeps_the_flip_and_a_flip_invariant_one_does_not():
    half = AugmentConfig(crop_scale=[1.0, 1.0], crop_ratio=[1.0, 1.0], vflip=0.5)
    gradient = torch.linspace(0, 1, 10).view(1, 1, 10, 1)
    data = _Splits()
    data.val_x = (data.val_x.float() * 0.2 + 200 * gradient).to(torch.uint8)   # bright at the bottom, before flips
    data.test_x = (data.test_x.float() * 0.2 + 200 * gradient).to(torch.uint8)
    top_minus_bottom = lambda x: (x[:, :, :5].mean((1, 2, 3)) - x[:, :, 5:].mean((1, 2, 3)))[:, None]  # noqa: E731
    symmetric = lambda x: (x[:, :, :5].mean((1, 2, 3)) + x[:, :, 5:].mean((1, 2, 3)))[:, None]  # noqa: E731
    assert evaluate_style(top_minus_bottom, data, half)["style_accuracy_vflip"] > 0.99
    assert evaluate_style(symmetric, data, half)["style_accuracy_vflip"] < 0.6


def test_a_run_that_keeps_view_one_unaugmented_is_still_probed_on_augmented_views():
    """CR-VAE (Sinha & Dieng) trains with augment.original_first; its style probe must still see augmentations vary."""
    from ppl_ssl.data import load_dataset

    data = load_dataset("digits", val_size=200)
    encode = lambda x: x.float().flatten(1)  # noqa: E731  (the pixels: they keep every style)
    scores = evaluate_style(encode, data, AugmentConfig(original_first=True))
    assert "style_r2_crop_scale" in scores and "style_accuracy_vflip" in scores
    assert scores == evaluate_style(encode, data, AugmentConfig())
