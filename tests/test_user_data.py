"""A user's own images: an .npz of arrays and a folder of image files train, evaluate and reload; malformed files
are refused in one line naming the file and what is wrong."""
import json

import numpy as np
import pytest
import torch

import ppl_ssl
from ppl_ssl.data import load_dataset
from ppl_ssl.errors import DataFileError, DataNotFoundError
from tests.conftest import TINY

SETTINGS = [s for s in TINY if not s.startswith(("data.dataset", "data.val_size", "data.train_subset"))]


def _digits(n=300):
    data = load_dataset("digits", val_size=100)
    return data.train_x[:n, 0].numpy(), data.train_y[:n].numpy()


def _config(dataset, path, *extra):
    return ppl_ssl.build_config("vae", {"data.dataset": dataset, "data.data_dir": str(path), "train.epochs": 1},
                                [*SETTINGS, *extra])


def test_an_npz_of_labelled_images_trains_evaluates_and_reloads(tmp_path):
    images, labels = _digits()
    np.savez(tmp_path / "mine.npz", images=images, labels=labels + 100)  # any integer labels
    data = load_dataset("arrays", str(tmp_path / "mine.npz"), val_size=0)
    assert data.train_x.shape[1:] == (1, 8, 8) and data.spec.class_names == tuple(str(100 + c) for c in range(10))
    assert len(data.test_x) == 30 and len(data.val_x) == 27  # a tenth held out for test, a tenth of the rest for validation
    metrics = ppl_ssl.fit_and_evaluate(_config("arrays", tmp_path / "mine.npz"), tmp_path / "run", progress=False)
    assert 0.1 < metrics["knn_accuracy"] <= 1 and "skipped" not in metrics  # above chance (10 classes)
    run = ppl_ssl.load_run(tmp_path / "run")
    assert run.encode(torch.rand(5, 1, 8, 8)).shape == (5, 4)


def test_unlabelled_float_images_with_their_own_test_split_report_what_needs_no_labels(tmp_path):
    images, _ = _digits()
    floats = images[:, None].astype(np.float32) / 255
    np.savez(tmp_path / "mine.npz", images=floats[:250], test_images=floats[250:])
    config = _config("arrays", tmp_path / "mine.npz", "eval.figures=true")
    metrics = ppl_ssl.fit_and_evaluate(config, tmp_path / "run", progress=False)
    assert "no labels" in metrics["skipped"] and "knn_accuracy" not in metrics
    assert metrics["reconstruction_mse"] > 0 and "elbo" in metrics
    drawn = {p.name for p in (tmp_path / "run" / "figures").glob("*.png")}
    assert {"reconstructions.png", "prior_samples.png"} <= drawn and "class_samples.png" not in drawn


def _write_folder(root, grey=True, classes=("cat", "dog"), per_class=12, size=(20, 16)):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size[1], size[0]) if grey else (size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")


@pytest.mark.parametrize("grey, channels", [(True, 1), (False, 3)])
def test_a_folder_of_class_folders_is_a_labelled_dataset(tmp_path, grey, channels):
    _write_folder(tmp_path / "pics", grey=grey)
    data = load_dataset("folder", str(tmp_path / "pics"), val_size=0, image_size=12)
    assert data.train_x.shape[1:] == (channels, 12, 12) and data.spec.class_names == ("cat", "dog")
    assert len(data.train_x) + len(data.val_x) + len(data.test_x) == 24
    assert set(torch.cat([data.train_y, data.val_y, data.test_y]).tolist()) == {0, 1}


def test_a_folder_with_train_and_test_trains_end_to_end(tmp_path):
    _write_folder(tmp_path / "pics" / "train")
    _write_folder(tmp_path / "pics" / "test", per_class=3)
    config = _config("folder", tmp_path / "pics", "data.image_size=8")
    metrics = ppl_ssl.fit_and_evaluate(config, tmp_path / "run", progress=False)
    assert "knn_accuracy" in metrics
    assert ppl_ssl.load_run(tmp_path / "run").system.encode(torch.rand(2, 1, 8, 8)).shape == (2, 4)


def _npz(tmp_path, **arrays):
    np.savez(tmp_path / "bad.npz", **arrays)
    return tmp_path / "bad.npz"


BAD_ARRAYS = [
    (lambda t: t / "missing.npz", DataNotFoundError, "missing.npz does not exist: --dataset arrays needs an .npz file"),
    (lambda t: (t / "text.npz", (t / "text.npz").write_text("hello"))[0], DataFileError, "not a readable .npz file"),
    (lambda t: _npz(t, pictures=np.zeros((4, 8, 8), np.uint8)), DataFileError, "has no 'images' array \\(it holds pictures\\)"),
    (lambda t: _npz(t, images=np.zeros((4, 8), np.uint8)), DataFileError, "images has shape \\(4, 8\\); expected"),
    (lambda t: _npz(t, images=np.zeros((4, 2, 8, 8), np.uint8)), DataFileError, "C = 1 or 3"),
    (lambda t: _npz(t, images=np.full((4, 8, 8), 3.0)), DataFileError, "floats outside \\[0, 1\\]"),
    (lambda t: _npz(t, images=np.zeros((4, 8, 8), np.int32)), DataFileError, "dtype int32; expected uint8 pixels"),
    (lambda t: _npz(t, images=np.zeros((4, 8, 8), np.uint8), labels=np.arange(3)), DataFileError, "3 labels for 4 images"),
    (lambda t: _npz(t, images=np.zeros((4, 8, 8), np.uint8), labels=np.zeros(4)), DataFileError, "one integer label per image"),
    (lambda t: _npz(t, images=np.zeros((4, 8, 8), np.uint8), test_images=np.zeros((2, 9, 9), np.uint8)), DataFileError,
     "test_images have shape"),
]


@pytest.mark.parametrize("make, error, message", BAD_ARRAYS)
def test_malformed_arrays_are_named(tmp_path, make, error, message):
    with pytest.raises(error, match=message):
        load_dataset("arrays", str(make(tmp_path)), val_size=0)


def test_malformed_folders_are_named(tmp_path):
    with pytest.raises(DataNotFoundError, match="--dataset folder needs a folder"):
        load_dataset("folder", str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFoundError, match="holds no images"):
        load_dataset("folder", str(tmp_path / "empty"))
    _write_folder(tmp_path / "broken")
    (tmp_path / "broken" / "dog" / "zzz.png").write_bytes(b"not a png")
    with pytest.raises(DataFileError, match="zzz.png is not a readable image"):
        load_dataset("folder", str(tmp_path / "broken"), val_size=0)
    with pytest.raises(DataNotFoundError, match="pass --data-dir"):
        load_dataset("arrays", "")


class _Terminal:
    """stderr as a terminal: tqdm draws its bars only there."""

    def __init__(self):
        self.text = []

    def isatty(self):
        return True

    def write(self, text):
        self.text.append(text)

    def flush(self):
        pass


def test_reading_a_folder_shows_a_bar_on_a_terminal_and_quiet_silences_everything_but_the_result(tmp_path, monkeypatch,
                                                                                                 capsys):
    import sys
    from pathlib import Path

    _write_folder(tmp_path / "pics")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    load_dataset("folder", str(tmp_path / "pics"), val_size=0, image_size=8)
    assert "reading images" in "".join(terminal.text)

    terminal.text.clear()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
    import fit

    fit.main(["--model", "vae", "--dataset", "folder", "--data-dir", str(tmp_path / "pics"), "--epochs", "1",
              *[f"--set={s}" for s in SETTINGS], "--set=data.image_size=8", "--no-figures", "--quiet",
              "--out", str(tmp_path / "run")])
    assert "".join(terminal.text) == ""  # no reading bar, no training bar, no evaluation stage lines
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2 and printed[0].startswith("knn_accuracy=") and printed[1].startswith("metrics: ")
