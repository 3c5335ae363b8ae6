"""A toy world where content and style are known: 16×16 grey images of one of four outlined shapes (the content:
circle, square, plus, diamond) drawn at a random position, size and stroke thickness (the style).

The augmentations of the `toy` dataset (crops, i.e. shifts and rescalings, and vertical flips) change only style:
every shape is symmetric under a vertical flip. So a representation that keeps the augmentation's style yet
clusters the content is what the SSL model predicts for SimVAE, and one that discards style is what SimCLR's
objective asks for — the SimVAE paper's Figure 2, with the true factors at hand (`toy_world`).
"""
from __future__ import annotations

import numpy as np

SHAPES = ("circle", "square", "plus", "diamond")
STYLE = ("x", "y", "size", "thickness")
SIZE = 16


def toy_world(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """n images uint8 (n, 1, 16, 16), their content (n,) in 0..3 and their style factors (each (n,))."""
    rng = np.random.default_rng(seed)
    content = rng.integers(0, len(SHAPES), n)
    size = rng.uniform(3.0, 5.5, n)
    thickness = rng.uniform(0.8, 2.0, n)
    x = rng.uniform(size + 1, SIZE - 2 - size)
    y = rng.uniform(size + 1, SIZE - 2 - size)
    grid = np.arange(SIZE, dtype=np.float64)
    dx = grid[None, None, :] - x[:, None, None]  # (n, 1, W)
    dy = grid[None, :, None] - y[:, None, None]  # (n, H, 1)
    s = size[:, None, None]
    distance = np.stack([
        np.abs(np.hypot(dx, dy) - s),                                               # circle
        np.abs(np.maximum(np.abs(dx), np.abs(dy)) - s),                             # square outline
        np.minimum(np.hypot(np.maximum(np.abs(dx) - s, 0), dy),                     # plus: two strokes
                   np.hypot(dx, np.maximum(np.abs(dy) - s, 0))),
        np.abs(np.abs(dx) + np.abs(dy) - s) / np.sqrt(2),                           # diamond outline
    ])[content, np.arange(n)]                                                       # (n, H, W)
    ink = np.clip(thickness[:, None, None] / 2 - distance + 0.5, 0, 1)              # anti-aliased stroke
    images = np.rint(255 * ink).astype(np.uint8)[:, None]
    return images, content.astype(np.int64), {"x": x, "y": y, "size": size, "thickness": thickness}


def read_toy(_folder) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The `toy` dataset: 6,000 training and 1,000 test images (fixed seeds)."""
    train_x, train_y, _ = toy_world(6000, seed=0)
    test_x, test_y, _ = toy_world(1000, seed=1)
    return train_x, train_y, test_x, test_y
