"""Loaders read small files written here in each dataset's own format; missing data gives one clear error."""
import numpy as np
import pytest
import torch

from ppl_ssl.data import load_dataset
from ppl_ssl.data.formats import read_idx, write_cifar_batch, write_idx
from ppl_ssl.errors import DataNotFoundError


def write_mnist_like(folder, n_train=60, n_test=20, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    suffix = ".gz" if gz else ""
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(n_test) % 10,
    }
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        write_idx(folder / (stem + suffix), array)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip_and_fashion_mnist_splits(tmp_path, gz):
    arrays = write_mnist_like(tmp_path / "fm", gz=gz)
    assert np.array_equal(read_idx(tmp_path / "fm" / ("train-images-idx3-ubyte" + (".gz" if gz else ""))), arrays["train-images-idx3-ubyte"])
    data = load_dataset("fashion-mnist", str(tmp_path / "fm"), val_size=10)
    assert data.train_x.shape == (50, 1, 28, 28) and data.train_x.dtype == torch.uint8
    assert data.val_x.shape == (10, 1, 28, 28) and data.test_x.shape == (20, 1, 28, 28)
    # validation is carved from training images: together they are exactly the training set
    together = torch.cat([data.train_x, data.val_x]).flatten(1)
    original = torch.as_tensor(arrays["train-images-idx3-ubyte"]).flatten(1)
    assert sorted(map(tuple, together.tolist())) == sorted(map(tuple, original.tolist()))
    assert torch.equal(data.test_y, torch.as_tensor(arrays["t10k-labels-idx1-ubyte"]))


def test_train_subset_takes_the_first_training_images_and_split_is_stable(tmp_path):
    write_mnist_like(tmp_path / "fm")
    full = load_dataset("fashion-mnist", str(tmp_path / "fm"), val_size=10)
    sub = load_dataset("fashion-mnist", str(tmp_path / "fm"), val_size=10, train_subset=7)
    assert torch.equal(sub.train_x, full.train_x[:7]) and torch.equal(sub.val_x, full.val_x)


def test_data_dir_from_environment_variable(tmp_path, monkeypatch):
    write_mnist_like(tmp_path / "fashion-mnist")
    monkeypatch.setenv("PPL_SSL_DATA", str(tmp_path))
    assert len(load_dataset("fashion-mnist", "", val_size=5).test_x) == 20


def test_mnist_is_binarised(tmp_path):
    write_mnist_like(tmp_path / "m")
    data = load_dataset("mnist", str(tmp_path / "m"), val_size=5)
    assert set(data.train_x.unique().tolist()) <= {0, 255}


def test_missing_data_names_the_paths_tried_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv("PPL_SSL_DATA", raising=False)
    with pytest.raises(DataNotFoundError) as err:
        load_dataset("mnist", str(tmp_path / "nowhere"))
    message = str(err.value)
    assert str(tmp_path / "nowhere") in message and "--data-dir" in message and "\n" not in message


def test_cifar10_pickle_batches(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    images = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images[name] = rng.integers(0, 256, (8, 3, 32, 32), dtype=np.uint8)
        write_cifar_batch(folder / name, images[name], np.arange(8) % 10)
    data = load_dataset("cifar10", str(tmp_path), val_size=4)  # the parent folder is accepted too
    assert data.train_x.shape == (36, 3, 32, 32) and data.test_x.shape == (8, 3, 32, 32)
    assert torch.equal(data.test_x, torch.as_tensor(images["test_batch"]))


def test_celeba_images_attributes_and_hair_classes(tmp_path):
    from PIL import Image

    folder = tmp_path / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    names = ["5_o_Clock_Shadow", "Bald", "Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair"]
    rows = [[-1, 1, -1, -1, -1, -1], [-1, -1, 1, -1, -1, -1], [-1, -1, -1, 1, -1, -1], [-1, -1, -1, -1, 1, -1],
            [-1, -1, -1, -1, -1, 1], [1, -1, 1, 1, -1, -1], [1, -1, -1, -1, -1, -1], [-1, -1, 1, -1, -1, -1]]
    lines = [str(len(rows)), " ".join(names)]
    for i, row in enumerate(rows):
        name = f"{i + 1:06d}.jpg"
        Image.fromarray(np.full((218, 178, 3), 30 * i, dtype=np.uint8)).save(folder / "img_align_celeba" / name)
        lines.append(name + " " + " ".join(map(str, row)))
    (folder / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (folder / "list_eval_partition.txt").write_text("\n".join(f"{i + 1:06d}.jpg {2 if i >= 6 else 0}" for i in range(8)))
    data = load_dataset("celeba", str(folder), val_size=2, split_seed=0)
    assert data.test_x.shape == (2, 3, 64, 64)
    # hair: Bald 0, Black 1, Blond 2, Brown 3, Gray 4; two hair attributes or none -> -1 (dropped at evaluation)
    assert data.test_y.tolist() == [-1, 1]
    assert sorted(torch.cat([data.train_y, data.val_y]).tolist()) == [-1, 0, 1, 2, 3, 4]
    assert int(data.test_x[1].float().mean().round()) == 210  # the flat grey level of image 8 survives crop+resize


def test_digits_always_available():
    data = load_dataset("digits", val_size=100)
    assert data.train_x.shape[1:] == (1, 8, 8) and len(data.test_x) == 360 and int(data.train_x.max()) == 255
