"""The toy world: known content and style, a dataset, and experiments/toy.py's picture and scores."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ppl_ssl.data import load_dataset
from ppl_ssl.data.toy import SHAPES, STYLE, toy_world

ROOT = Path(__file__).resolve().parents[1]


def test_the_toy_world_is_reproducible_and_its_factors_are_the_truth():
    images, content, style = toy_world(200, seed=3)
    again, _, _ = toy_world(200, seed=3)
    assert images.shape == (200, 1, 16, 16) and images.dtype == np.uint8 and np.array_equal(images, again)
    assert set(content.tolist()) == set(range(len(SHAPES))) and set(style) == set(STYLE)
    # the ink's centre of mass is the drawn position, and a thicker stroke lays down more ink
    ys, xs = np.mgrid[:16, :16]
    ink = images[:, 0].astype(float)
    centre_x = (ink * xs).sum((1, 2)) / ink.sum((1, 2))
    assert np.corrcoef(centre_x, style["x"])[0, 1] > 0.95
    circles = content == 0
    assert np.corrcoef(ink[circles].sum((1, 2)), style["thickness"][circles] * style["size"][circles])[0, 1] > 0.9


def test_the_toy_dataset_loads_with_its_classes():
    data = load_dataset("toy", val_size=500)
    assert data.train_x.shape == (5500, 1, 16, 16) and len(data.test_x) == 1000 and data.spec.class_names == SHAPES


@pytest.mark.slow  # three fits through experiments/toy.py: make test-all
def test_toy_script_draws_codes_and_scores_style(tmp_path):
    result = subprocess.run([sys.executable, "experiments/toy.py", "--epochs", "1", "--out", str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    scores = json.loads((tmp_path / "toy.json").read_text())
    assert set(scores) == {"simvae", "vae", "simclr"}
    assert all(set(s["style_r2"]) == set(STYLE) and s["knn_accuracy"] > 0.3 for s in scores.values())  # 4 shapes: chance 25%
    assert (tmp_path / "toy.png").read_bytes()[:4] == b"\x89PNG"
