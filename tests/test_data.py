"""Loaders read small files written here in each dataset's own format; missing data gives one clear error."""
import numpy as np
import pytest
import torch

from ppl_ssl.data import load_dataset
from ppl_ssl.data.formats import read_idx, write_cifar_batch, write_idx
from ppl_ssl.errors import DataFileError, DataNotFoundError


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


def _letter_L(n):
    """n images of an L: a vertical bar in column 3 and a horizontal one in row 24 (not symmetric under a transpose)."""
    images = np.zeros((n, 28, 28), np.uint8)
    images[:, 3:25, 3] = 255
    images[:, 24, 3:20] = 255
    return images


def test_emnist_balanced_reads_its_transposed_idx_files_upright(tmp_path):
    folder = tmp_path / "emnist"
    folder.mkdir()
    stored = _letter_L(30).transpose(0, 2, 1)  # EMNIST's files hold each image column by column
    for split, n in (("train", 20), ("test", 10)):
        write_idx(folder / f"emnist-balanced-{split}-images-idx3-ubyte.gz", stored[:n])
        write_idx(folder / f"emnist-balanced-{split}-labels-idx1-ubyte.gz", np.arange(n) % 47)
    data = load_dataset("emnist", str(folder), val_size=5)
    assert data.spec.num_classes == 47 and data.spec.class_names[10] == "A" and data.test_x.shape == (10, 1, 28, 28)
    assert torch.equal(data.test_x[0, 0], torch.as_tensor(_letter_L(1)[0]))  # upright again
    write_idx(folder / "emnist-balanced-test-labels-idx1-ubyte.gz", np.arange(10) + 60)  # another split's labels
    with pytest.raises(DataFileError, match="emnist-balanced-test-labels hold labels 60..69; the balanced split has 47"):
        load_dataset("emnist", str(folder), val_size=5)


def test_omniglot_reads_burda_et_al_s_chardata_mat_with_alphabets_as_labels(tmp_path):
    import scipy.io

    folder = tmp_path / "omniglot"
    folder.mkdir()
    column_major = _letter_L(12).transpose(0, 2, 1).reshape(12, 784).T / 255.0  # (784, N), as the file stores them
    alphabets = np.eye(50)[:, np.arange(12) % 50]
    scipy.io.savemat(folder / "chardata.mat", {"data": column_major[:, :8], "target": alphabets[:, :8],
                                               "testdata": column_major[:, 8:], "testtarget": alphabets[:, 8:]})
    data = load_dataset("omniglot", str(folder), val_size=2)
    assert data.spec.num_classes == 50 and data.test_x.shape == (4, 1, 28, 28)
    assert torch.equal(data.test_y, torch.tensor([8, 9, 10, 11]))
    assert torch.equal(data.test_x[0, 0], torch.as_tensor(_letter_L(1)[0]))  # upright, binarised at ½ stays the same
    scipy.io.savemat(folder / "chardata.mat", {"images": column_major})
    with pytest.raises(DataFileError, match="chardata.mat has no data, target, testdata, testtarget"):
        load_dataset("omniglot", str(folder), val_size=2)


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


def _celeba_folder(tmp_path, names, rows, brightness=None, test_from=None):
    """A CelebA release in miniature: aligned JPEGs (218 × 178, one flat grey level each), the attribute list and
    the official partition (images from `test_from` on are the test split)."""
    from PIL import Image

    folder = tmp_path / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    lines = [str(len(rows)), " ".join(names)]
    for i, row in enumerate(rows):
        name = f"{i + 1:06d}.jpg"
        level = 30 * i if brightness is None else brightness[i]
        Image.fromarray(np.full((218, 178, 3), level, dtype=np.uint8)).save(folder / "img_align_celeba" / name)
        lines.append(name + " " + " ".join(map(str, row)))
    (folder / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    test_from = len(rows) - 2 if test_from is None else test_from
    (folder / "list_eval_partition.txt").write_text("\n".join(f"{i + 1:06d}.jpg {2 if i >= test_from else 0}"
                                                              for i in range(len(rows))))
    return folder


CELEBA_NAMES = ["5_o_Clock_Shadow", "Bald", "Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Male"]
CELEBA_ROWS = [[-1, 1, -1, -1, -1, -1, 1], [-1, -1, 1, -1, -1, -1, -1], [-1, -1, -1, 1, -1, -1, -1],
               [-1, -1, -1, -1, 1, -1, 1], [-1, -1, -1, -1, -1, 1, 1], [1, -1, 1, 1, -1, -1, 1],
               [1, -1, -1, -1, -1, -1, 1], [-1, -1, 1, -1, -1, -1, -1]]


def test_celeba_is_gender_with_its_40_attributes_alongside(tmp_path):
    folder = _celeba_folder(tmp_path, CELEBA_NAMES, CELEBA_ROWS)
    data = load_dataset("celeba", str(folder), val_size=2, split_seed=0)
    assert data.spec.class_names == ("female", "male") and data.test_x.shape == (2, 3, 64, 64)
    assert data.test_y.tolist() == [1, 0]  # images 7 and 8: Male +1, -1
    assert data.attributes.names == tuple(CELEBA_NAMES)
    assert data.attributes.test.tolist() == [[1, 0, 0, 0, 0, 0, 1], [0, 0, 1, 0, 0, 0, 0]]
    # the attributes follow the images through the validation carve: each row's Male column is its label
    for split in ("train", "val", "test"):
        assert torch.equal(data.attributes.split(split)[:, -1].long(), data.split(split)[1])
    assert int(data.test_x[1].float().mean().round()) == 210  # the flat grey level of image 8 survives crop+resize


def test_celeba_hair_is_the_five_hair_colours(tmp_path):
    folder = _celeba_folder(tmp_path, CELEBA_NAMES, CELEBA_ROWS)
    data = load_dataset("celeba-hair", str(folder), val_size=2, split_seed=0)
    # hair: Bald 0, Black 1, Blond 2, Brown 3, Gray 4; two hair attributes or none -> -1 (dropped at evaluation)
    assert data.test_y.tolist() == [-1, 1]
    assert sorted(torch.cat([data.train_y, data.val_y]).tolist()) == [-1, 0, 1, 2, 3, 4]


def test_attribute_probes_read_an_attribute_the_representation_holds_and_pick_the_balanced_ones(tmp_path):
    from ppl_ssl.evaluation.attributes import attribute_probe_scores, balanced_attributes

    rng = np.random.default_rng(0)
    n = 120
    bright = rng.random(n) < 0.5                      # "Bright": what the representation (mean grey level) shows
    coin = rng.random(n) < 0.5                        # "Coin": balanced, invisible in the images
    rare = np.arange(n) % 20 == 0                     # "Rare": 5 % positives, left out as imbalanced
    rows = [[1 if b else -1, 1 if c else -1, 1 if r else -1, 1 if c else -1] for b, c, r in zip(bright, coin, rare)]
    levels = np.where(bright, 200, 40) + rng.integers(0, 30, n)
    folder = _celeba_folder(tmp_path, ["Bright", "Coin", "Rare", "Male"], rows, brightness=levels, test_from=80)
    data = load_dataset("celeba", str(folder), val_size=20, split_seed=0)
    assert [data.attributes.names[i] for i in balanced_attributes(data.attributes, 3)] == ["Bright", "Coin", "Male"]
    encode = lambda images: images.mean((2, 3))  # noqa: E731  a "representation": the mean of each colour channel
    scores = attribute_probe_scores(encode, data, count=2, epochs=60, lr=1e-2, batch_size=32)
    assert set(scores) == {"attribute_accuracy_Bright", "attribute_accuracy_Coin", "attribute_accuracy_mean",
                           "attribute_majority_mean"}
    assert scores["attribute_accuracy_Bright"] >= 0.95            # held in the representation
    assert scores["attribute_accuracy_Coin"] <= 0.75              # not held: about chance on 40 test images
    assert scores["attribute_accuracy_mean"] == pytest.approx((scores["attribute_accuracy_Bright"] + scores["attribute_accuracy_Coin"]) / 2)


def test_digits_always_available():
    data = load_dataset("digits", val_size=100)
    assert data.train_x.shape[1:] == (1, 8, 8) and len(data.test_x) == 360 and int(data.train_x.max()) == 255


def test_an_empty_data_dir_is_an_error_not_a_fallback_to_another_copy(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFoundError) as err:
        load_dataset("fashion-mnist", str(tmp_path / "empty"))  # the system copy in /usr/share must not be used
    message = str(err.value)
    assert f"--data-dir {tmp_path / 'empty'} holds no fashion-mnist files" in message
    assert "train-images-idx3-ubyte" in message and "\n" not in message
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_dataset("cifar10", str(tmp_path / "missing"))


def _damage(path, how):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if how == "truncate" else b"\x00\x01garbage" + data[9:])


@pytest.mark.parametrize("how, message", [("truncate", "truncated or not valid gzip"), ("garble", "not valid gzip")])
def test_a_damaged_idx_file_is_named_with_what_is_wrong(tmp_path, how, message):
    write_mnist_like(tmp_path / "fm")
    _damage(tmp_path / "fm" / "train-images-idx3-ubyte.gz", how)
    with pytest.raises(DataFileError, match=message) as err:
        load_dataset("fashion-mnist", str(tmp_path / "fm"), val_size=5)
    assert "train-images-idx3-ubyte.gz" in str(err.value) and "download it again" in str(err.value)


def test_idx_files_of_the_wrong_shape_or_count_are_refused(tmp_path):
    write_mnist_like(tmp_path / "fm", gz=False)
    (tmp_path / "fm" / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + b"\x00\x00\x00\x3c" * 3)  # truncated
    with pytest.raises(DataFileError, match="header declares shape"):
        load_dataset("fashion-mnist", str(tmp_path / "fm"), val_size=5)
    write_mnist_like(tmp_path / "wrong", gz=False)
    write_idx(tmp_path / "wrong" / "train-images-idx3-ubyte", np.zeros((60, 32, 32)))
    with pytest.raises(DataFileError, match=r"expected uint8 images of shape \(N, 28, 28\)"):
        load_dataset("fashion-mnist", str(tmp_path / "wrong"), val_size=5)
    write_mnist_like(tmp_path / "count", gz=False)
    write_idx(tmp_path / "count" / "t10k-labels-idx1-ubyte", np.arange(7))
    with pytest.raises(DataFileError, match="7,\\) labels for 20 t10k-images"):
        load_dataset("fashion-mnist", str(tmp_path / "count"), val_size=5)


def _cifar_folder(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        write_cifar_batch(folder / name, np.zeros((4, 3, 32, 32), dtype=np.uint8), np.arange(4))
    return folder


class _RunsCode:
    def __reduce__(self):
        import os
        return (os.system, ("echo pwned > /dev/null",))


def test_a_cifar_batch_that_would_run_code_is_refused_unread(tmp_path):
    import pickle

    folder = _cifar_folder(tmp_path)
    with open(folder / "data_batch_3", "wb") as f:
        pickle.dump({b"data": _RunsCode(), b"labels": [0]}, f)
    with pytest.raises(DataFileError, match=r"data_batch_3: refusing to unpickle (posix|os)\.system"):
        load_dataset("cifar10", str(folder), val_size=2)


def test_a_truncated_or_malformed_cifar_batch_is_named(tmp_path):
    import pickle

    folder = _cifar_folder(tmp_path)
    _damage(folder / "test_batch", "truncate")
    with pytest.raises(DataFileError, match="test_batch is truncated or not a CIFAR-10 batch"):
        load_dataset("cifar10", str(folder), val_size=2)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((4, 100), dtype=np.uint8), b"labels": [0, 1, 2, 3]}, f)
    with pytest.raises(DataFileError, match="uint8 rows of 3072 values"):
        load_dataset("cifar10", str(folder), val_size=2)
    write_cifar_batch(folder / "test_batch", np.zeros((4, 3, 32, 32), dtype=np.uint8), np.arange(3))
    with pytest.raises(DataFileError, match="4 images but 3 labels"):
        load_dataset("cifar10", str(folder), val_size=2)


def test_a_celeba_run_reports_gender_and_draws_its_attribute_probes(tmp_path):
    from ppl_ssl.pipeline import fit_and_evaluate
    from tests.conftest import tiny_config

    rng = np.random.default_rng(1)
    rows = [[1 if v else -1 for v in rng.random(4) < 0.5] for _ in range(60)]
    folder = _celeba_folder(tmp_path, ["Smiling", "Young", "Wavy_Hair", "Male"], rows, brightness=rng.integers(0, 256, 60),
                            test_from=45)
    config = tiny_config("vae", "data.dataset='celeba'", f"data.data_dir='{folder}'", "data.val_size=10",
                         "data.train_subset=0", "nets.kind='mlp'", "eval.figures=true", "eval.attribute_probes=2",
                         "eval.style_probe=false", "eval.diagnostics_points=0")
    metrics = fit_and_evaluate(config, tmp_path / "run", progress=False)
    assert 0 <= metrics["knn_accuracy"] <= 1  # the content task: gender
    assert len([k for k in metrics if k.startswith("attribute_accuracy_")]) == 3  # 2 attributes and their mean
    assert (tmp_path / "run" / "figures" / "attributes.png").read_bytes()[:4] == b"\x89PNG"
