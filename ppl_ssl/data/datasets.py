"""Datasets as uint8 image tensors with train / validation / test splits.

Images stay uint8 (N, C, H, W) — a quarter of the memory of float — on the training device, and become floats
in [0, 1] batch by batch (`as_float`). The validation split is carved from the training set with a fixed seed;
every choice (k, probe epoch, hyper-parameters) is made on it, never on the test split.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ppl_ssl.data import formats, toy, user
from ppl_ssl.errors import ConfigError, DataFileError, DataNotFoundError
from ppl_ssl.progress import reading_bar
from ppl_ssl.contracts import BuildContext, Dataset
from ppl_ssl.registry import DATASETS

# Table 2 of the SimVAE TMLR paper: crop scale, ratio, vertical flip, colour jitter (b-s-c, hue, probability).
_GREY_AUGMENT = {"crop_scale": [0.4, 1.0], "crop_ratio": [0.75, 1.3], "vflip": 0.5, "hflip": 0.0,
                 "brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "hue": 0.0, "jitter_prob": 0.0,
                 "grayscale_prob": 0.0}
_COLOUR_AUGMENT = {"crop_scale": [0.6, 1.0], "crop_ratio": [0.75, 1.3], "vflip": 0.5, "hflip": 0.0,
                   "brightness": 0.8, "contrast": 0.8, "saturation": 0.8, "hue": 0.2, "jitter_prob": 0.8,
                   "grayscale_prob": 0.0}


@dataclass(frozen=True)
class DatasetSpec(Dataset):
    name: str
    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    read: Callable[[Path], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
    marker: Callable[[Path], bool]  # does this folder hold the dataset?
    system_folders: tuple[str, ...]
    how_to_get: str
    augment: dict
    nets: str
    latent_dim: int
    likelihood: str = "gaussian"
    binarise: bool = False
    needs_files: bool = True
    env_subfolders: tuple[str, ...] = field(default=())
    files: str = ""  # what a data folder must hold, for error messages
    val_size: int = 5000  # validation images carved from the training split (data.val_size's default; 0: a tenth)
    # a user's data (--dataset arrays/folder): read(path, image_size) -> UserData and its image shape from headers
    read_user: Callable | None = None
    user_shape: Callable | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def build(self, options, context: BuildContext | None = None) -> "DataSplits":
        """The splits for the data options (the config's [data] section), on the CPU."""
        return load_dataset(self.name, options.data_dir, options.val_size, options.train_subset, options.split_seed,
                            "cpu", options.image_size)

    def config_defaults(self) -> dict:
        """Config values that depend on the dataset (the paper's per-dataset settings)."""
        return {"augment": dict(self.augment), "nets": {"kind": self.nets}, "data": {"val_size": self.val_size},
                "model": {"latent_dim": self.latent_dim, "likelihood": {"kind": self.likelihood}}}

    def candidate_folders(self, data_dir: str) -> list[Path]:
        roots = [Path(data_dir).expanduser()] if data_dir else []
        if os.environ.get("PPL_SSL_DATA"):
            env = Path(os.environ["PPL_SSL_DATA"]).expanduser()
            roots += [env / sub for sub in self.env_subfolders] + [env]
        roots += [Path(p).expanduser() for p in self.system_folders]
        expanded: list[Path] = []
        for root in roots:  # also accept the parent folder of the usual sub-folder names
            expanded += [root] + [root / sub for sub in self.env_subfolders]
        return list(dict.fromkeys(expanded))


@dataclass(frozen=True)
class Attributes:
    """Binary attributes of every image besides its content label (CelebA's 40), 0/1 int8 (N, A) per split."""

    names: tuple[str, ...]
    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor

    def to(self, device: torch.device | str) -> "Attributes":
        return Attributes(self.names, self.train.to(device), self.val.to(device), self.test.to(device))

    def split(self, name: str) -> torch.Tensor:
        return {"train": self.train, "val": self.val, "test": self.test}[name]


@dataclass
class DataSplits:
    """uint8 images and int64 labels (-1: no label, ignored by evaluation) for each split, and the images' other
    attributes where the dataset has them."""

    spec: DatasetSpec
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    attributes: Attributes | None = None

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        return getattr(self, f"{name}_x"), getattr(self, f"{name}_y")

    def to(self, device: torch.device | str) -> "DataSplits":
        moved = {k: getattr(self, k).to(device) for k in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")}
        return DataSplits(self.spec, **moved, attributes=self.attributes.to(device) if self.attributes else None)


def as_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 in [0, 1]."""
    return images.float().div_(255.0)


def load_dataset(name: str, data_dir: str = "", val_size: int = 5000, train_subset: int = 0,
                 split_seed: int = 0, device: torch.device | str = "cpu", image_size: int = 32) -> DataSplits:
    """Read a registered dataset and carve its validation split from the training set (val_size 0: a tenth)."""
    spec: DatasetSpec = DATASETS[name].component
    if spec.read_user is not None:  # the user's own file or folder: its shape and classes come from the data
        if not data_dir:
            raise DataNotFoundError(f"--dataset {name} reads your data: pass --data-dir ({spec.files})")
        user = spec.read_user(Path(data_dir).expanduser(), image_size)
        spec = dataclasses.replace(spec, image_shape=tuple(user.train_x.shape[1:]), class_names=user.class_names)
        train_x, train_y, test_x, test_y, extra = user.train_x, user.train_y, user.test_x, user.test_y, []
    else:
        train_x, train_y, test_x, test_y, *extra = spec.read(_locate(spec, data_dir))
    if spec.binarise:  # the paper's binarised MNIST: threshold at 0.5
        train_x, test_x = ((a >= 128).astype(np.uint8) * 255 for a in (train_x, test_x))
    if val_size == 0:
        val_size = max(1, len(train_x) // 10)
    if val_size >= len(train_x):
        raise ConfigError(f"data.val_size={val_size} leaves no training images ({name} has {len(train_x)}); lower it")
    order = np.random.default_rng(split_seed).permutation(len(train_x))
    val_idx, train_idx = np.sort(order[:val_size]), np.sort(order[val_size:])
    if train_subset:
        train_idx = train_idx[:train_subset]
    tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    attributes = None
    if extra:  # (names, training-split matrix, test-split matrix) of a dataset with attributes
        names, train_attributes, test_attributes = extra[0]
        attributes = Attributes(tuple(names), tensor(train_attributes[train_idx]), tensor(train_attributes[val_idx]),
                                tensor(test_attributes))
    return DataSplits(spec, tensor(train_x[train_idx]), tensor(train_y[train_idx]), tensor(train_x[val_idx]),
                      tensor(train_y[val_idx]), tensor(test_x), tensor(test_y), attributes).to(device)


def image_shape(name: str, data_dir: str = "", image_size: int = 32) -> tuple[int, int, int]:
    """The (C, H, W) a dataset's images have (for a user's data, read from its files' headers)."""
    spec: DatasetSpec = DATASETS[name].component
    if spec.user_shape is not None:
        if not data_dir:
            raise DataNotFoundError(f"--dataset {name} reads your data: pass --data-dir ({spec.files})")
        return tuple(spec.user_shape(Path(data_dir).expanduser(), image_size))
    return tuple(spec.image_shape)


def _locate(spec: DatasetSpec, data_dir: str) -> Path:
    if not spec.needs_files:
        return Path(".")
    if data_dir:  # a folder the user named is the only place looked: never a silent fallback to another copy
        root = Path(data_dir).expanduser()
        for folder in [root] + [root / sub for sub in spec.env_subfolders]:
            if folder.is_dir() and spec.marker(folder):
                return folder
        where = "does not exist" if not root.exists() else f"holds no {spec.name} files"
        raise DataNotFoundError(f"--data-dir {root} {where}: expected {spec.files} there"
                                f"{' or in ' + ', '.join(spec.env_subfolders) if spec.env_subfolders else ''}. {spec.how_to_get}")
    tried = spec.candidate_folders(data_dir)
    for folder in tried:
        if folder.is_dir() and spec.marker(folder):
            return folder
    raise DataNotFoundError(
        f"{spec.name}: no data found; tried {', '.join(map(str, tried)) or '(no folders)'}. {spec.how_to_get}"
    )


# --------------------------------------------------------------------------------------------- readers


MNIST_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
EMNIST_STEMS = tuple(f"emnist-balanced-{split}-{part}" for split in ("train", "test")
                     for part in ("images-idx3-ubyte", "labels-idx1-ubyte"))


def _read_idx_folder(folder: Path, stems: tuple[str, ...] = MNIST_STEMS, transposed: bool = False):
    """Four IDX files: training images and labels, test images and labels. EMNIST stores each image transposed
    (column by column), which `transposed` undoes."""
    parts = []
    for stem in stems:
        path = formats.find_idx(folder, stem)
        if path is None:
            raise DataNotFoundError(f"{folder}: missing {stem}[.gz]; the folder needs all four IDX files")
        parts.append(formats.read_idx(path))
    train_x, train_y, test_x, test_y = parts
    for images, labels, split in ((train_x, train_y, stems[0]), (test_x, test_y, stems[2])):
        split = split.removesuffix("-images-idx3-ubyte")
        if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
            raise DataFileError(f"{folder}: {split}-images holds {images.dtype} of shape {images.shape}; expected uint8 "
                                f"images of shape (N, 28, 28)")
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataFileError(f"{folder}: {split}-labels holds {labels.shape} labels for {len(images)} {split}-images; "
                                f"the files come from different releases or one is damaged")
    if transposed:
        train_x, test_x = (np.ascontiguousarray(x.transpose(0, 2, 1)) for x in (train_x, test_x))
    return train_x[:, None], train_y.astype(np.int64), test_x[:, None], test_y.astype(np.int64)


def _has_idx(folder: Path) -> bool:
    return formats.find_idx(folder, "train-images-idx3-ubyte") is not None


def _read_emnist(folder: Path):
    train_x, train_y, test_x, test_y = _read_idx_folder(folder, EMNIST_STEMS, transposed=True)
    for labels, split in ((train_y, "train"), (test_y, "test")):
        if labels.min() < 0 or labels.max() >= len(EMNIST_BALANCED_CLASSES):
            raise DataFileError(f"{folder}: emnist-balanced-{split}-labels hold labels {labels.min()}..{labels.max()}; the "
                                f"balanced split has {len(EMNIST_BALANCED_CLASSES)} classes (0..46): is it another split's file?")
    return train_x, train_y, test_x, test_y


def _has_emnist(folder: Path) -> bool:
    return formats.find_idx(folder, EMNIST_STEMS[0]) is not None


def _read_omniglot(folder: Path):
    """chardata.mat of Burda et al.'s 28×28 Omniglot (the VAE literature's): 'data' and 'testdata' (784, N) in
    [0, 1], stored column by column; 'target' and 'testtarget' (50, N) one-hot alphabets, the label here."""
    import scipy.io

    path = folder / "chardata.mat"
    try:
        mat = scipy.io.loadmat(path)
    except (ValueError, OSError, TypeError) as err:
        raise DataFileError(f"{path} is not a readable MATLAB file ({err}); download it again") from None
    missing = [k for k in ("data", "target", "testdata", "testtarget") if k not in mat]
    if missing:
        raise DataFileError(f"{path} has no {', '.join(missing)} (it holds {', '.join(k for k in mat if not k.startswith('__'))}); "
                            "expected Burda et al.'s chardata.mat")
    splits = []
    for images_key, target_key in (("data", "target"), ("testdata", "testtarget")):
        images, target = np.asarray(mat[images_key]), np.asarray(mat[target_key])
        if images.ndim != 2 or images.shape[0] != 784 or target.ndim != 2 or target.shape != (len(OMNIGLOT_ALPHABETS), images.shape[1]):
            raise DataFileError(f"{path}: {images_key} has shape {images.shape} and {target_key} {target.shape}; expected "
                                f"(784, N) and ({len(OMNIGLOT_ALPHABETS)}, N)")
        if images.min() < 0 or images.max() > 1:
            raise DataFileError(f"{path}: {images_key} holds values outside [0, 1]")
        pictures = images.T.reshape(-1, 28, 28).transpose(0, 2, 1)  # column-major, as Burda et al.'s loader reads it
        splits += [np.rint(pictures * 255).astype(np.uint8)[:, None], target.argmax(0).astype(np.int64)]
    return tuple(splits)


def _has_omniglot(folder: Path) -> bool:
    return (folder / "chardata.mat").is_file()


def _read_digits(_: Path):
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # 0..16 -> 0..255
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(images))  # a fixed train/test split: the set ships none
    test, train = order[:360], order[360:]
    return images[train], labels[train], images[test], labels[test]


def _read_cifar(folder: Path):
    train_x, train_y = formats.read_cifar_batches(folder, [f"data_batch_{i}" for i in range(1, 6)])
    test_x, test_y = formats.read_cifar_batches(folder, ["test_batch"])
    return train_x, train_y, test_x, test_y


def _has_cifar(folder: Path) -> bool:
    return all((folder / n).is_file() for n in ["test_batch"] + [f"data_batch_{i}" for i in range(1, 6)])


def _read_celeba(folder: Path, content=formats.celeba_gender_labels):
    """Images, the content label (`content`: gender, or hair colour for celeba-hair) and all 40 attributes as 0/1."""
    files, names, attributes = formats.read_celeba_attributes(folder / "list_attr_celeba.txt")
    try:
        labels = content(names, attributes)
    except ValueError as err:  # an attribute the label is made of is missing from the list
        raise DataFileError(f"{folder / 'list_attr_celeba.txt'}: {err}; download it again") from None
    partition_file = folder / "list_eval_partition.txt"
    if partition_file.is_file():
        part = formats.read_celeba_partition(partition_file)
        is_test = np.array([part.get(f, "0") == "2" for f in files])
    else:  # no official partition: the last tenth is the test split
        is_test = np.arange(len(files)) >= len(files) - max(1, len(files) // 10)
    images = np.stack([formats.read_celeba_image(folder / "img_align_celeba" / f)
                       for f in reading_bar(files, "reading CelebA")])
    binary = (attributes > 0).astype(np.int8)
    return (images[~is_test], labels[~is_test], images[is_test], labels[is_test],
            (names, binary[~is_test], binary[is_test]))


def _read_celeba_hair(folder: Path):
    return _read_celeba(folder, formats.celeba_hair_labels)


def _has_celeba(folder: Path) -> bool:
    return (folder / "list_attr_celeba.txt").is_file() and (folder / "img_align_celeba").is_dir()


# the SimVAE paper's CelebA task: gender (its Tables 1, 5, 6); the 40 attributes ride along
_CELEBA = DatasetSpec(
    "celeba", (3, 64, 64), formats.CELEBA_GENDER, _read_celeba, _has_celeba,
    ("~/.cache/ppl_ssl/celeba",),
    "Put img_align_celeba/ and list_attr_celeba.txt (and list_eval_partition.txt) from the CelebA release in a "
    "folder and pass --data-dir (or its parent as PPL_SSL_DATA with the folder named celeba).",
    _COLOUR_AUGMENT, "resnet", 64, env_subfolders=("celeba",), files="list_attr_celeba.txt and img_align_celeba/",
)

EMNIST_BALANCED_CLASSES = tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabdefghnqrt")  # its mapping file's 47 characters
OMNIGLOT_ALPHABETS = tuple(f"alphabet {i + 1}" for i in range(50))  # chardata.mat numbers them, without names
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
DIGIT_CLASSES = tuple(str(i) for i in range(10))
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

for _spec in (
    DatasetSpec(
        "fashion-mnist", (1, 28, 28), FASHION_CLASSES, _read_idx_folder, _has_idx,
        ("/usr/share/datasets/fashion-mnist", "~/.cache/ppl_ssl/fashion-mnist"),
        "Install it with `apt-get install dataset-fashion-mnist` (Debian; files in /usr/share/datasets/fashion-mnist) "
        "or put the four *-ubyte.gz IDX files in a folder and pass --data-dir or set PPL_SSL_DATA.",
        _GREY_AUGMENT, "mlp", 10, env_subfolders=("fashion-mnist", "FashionMNIST/raw"), files="train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each optionally .gz)",
    ),
    DatasetSpec(
        "mnist", (1, 28, 28), DIGIT_CLASSES, _read_idx_folder, _has_idx,
        ("/usr/share/datasets/mnist", "~/.cache/ppl_ssl/mnist"),
        "Put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
        "t10k-labels-idx1-ubyte.gz (from the MNIST distribution) in a folder and pass --data-dir or set PPL_SSL_DATA.",
        _GREY_AUGMENT, "mlp", 10, likelihood="bernoulli", binarise=True, env_subfolders=("mnist", "MNIST/raw"),
        files="train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each optionally .gz)",
    ),
    DatasetSpec(
        "emnist", (1, 28, 28), EMNIST_BALANCED_CLASSES, _read_emnist, _has_emnist, ("~/.cache/ppl_ssl/emnist",),
        "Unpack gzip.zip of the EMNIST release (https://www.nist.gov/itl/products-and-services/emnist-dataset) and pass "
        "the folder holding emnist-balanced-*-ubyte.gz as --data-dir (or its parent as PPL_SSL_DATA).",
        _GREY_AUGMENT, "mlp", 16, env_subfolders=("emnist", "gzip", "EMNIST/raw"),
        files="emnist-balanced-train-images-idx3-ubyte, -train-labels-idx1-ubyte, -test-images-idx3-ubyte and "
              "-test-labels-idx1-ubyte (each optionally .gz): the balanced split, 47 classes",
    ),
    DatasetSpec(
        "omniglot", (1, 28, 28), OMNIGLOT_ALPHABETS, _read_omniglot, _has_omniglot, ("~/.cache/ppl_ssl/omniglot",),
        "Download chardata.mat (Burda et al.'s 28×28 Omniglot, https://github.com/yburda/iwae/tree/master/datasets/OMNIGLOT) "
        "and pass its folder as --data-dir (or its parent as PPL_SSL_DATA with the folder named omniglot).",
        _GREY_AUGMENT, "mlp", 32, likelihood="bernoulli", binarise=True, env_subfolders=("omniglot", "OMNIGLOT"),
        files="chardata.mat (labels: the 50 alphabets)",
    ),
    DatasetSpec(
        "digits", (1, 8, 8), DIGIT_CLASSES, _read_digits, lambda _: True, (),
        "scikit-learn ships it; nothing to download.", _GREY_AUGMENT | {"crop_scale": [0.6, 1.0], "vflip": 0.0},
        "mlp", 10, needs_files=False, val_size=300,
    ),
    DatasetSpec(
        "cifar10", (3, 32, 32), CIFAR_CLASSES, _read_cifar, _has_cifar,
        ("~/.cache/ppl_ssl/cifar-10-batches-py",),
        "Unpack cifar-10-python.tar.gz (https://www.cs.toronto.edu/~kriz/cifar.html) and pass the "
        "cifar-10-batches-py folder as --data-dir (or its parent as PPL_SSL_DATA).",
        _COLOUR_AUGMENT, "resnet", 64, env_subfolders=("cifar-10-batches-py",),
        files="data_batch_1 … data_batch_5 and test_batch",
    ),
    _CELEBA,
    # the same files, hair colour as the label: the paper's Figure 5 (left) and the workshop paper's Table 2
    dataclasses.replace(_CELEBA, name="celeba-hair", class_names=formats.CELEBA_HAIR, read=_read_celeba_hair),
    DatasetSpec(
        "toy", (1, toy.SIZE, toy.SIZE), toy.SHAPES, toy.read_toy, lambda _: True, (),
        "generated on the fly (ppl_ssl.data.toy); nothing to download.",
        _GREY_AUGMENT | {"crop_scale": [0.6, 1.0]}, "mlp", 2, needs_files=False, val_size=500,
    ),
    DatasetSpec(
        "arrays", (0, 0, 0), (), None, lambda _: True, (), "Save your images with numpy.savez(FILE, images=..., "
        "labels=...) and pass --data-dir FILE.npz.", _GREY_AUGMENT, "mlp", 10, val_size=0,
        files="an .npz file with 'images' (N, H, W) or (N, C, H, W), optional 'labels', 'test_images', 'test_labels'",
        read_user=user.read_arrays, user_shape=user.arrays_shape,
    ),
    DatasetSpec(
        "folder", (0, 0, 0), (), None, lambda _: True, (), "Put one sub-folder of images per class in a folder and pass "
        "--data-dir DIR (data.image_size sets the square size).", _GREY_AUGMENT, "mlp", 10, val_size=0,
        files="a folder with one sub-folder of PNG/JPEG images per class (or DIR/train and DIR/test in that layout)",
        read_user=user.read_folder, user_shape=user.folder_shape,
    ),
):
    summary = ("your own images: " + _spec.files) if _spec.read_user else f"{_spec.image_shape}, {_spec.num_classes} classes"
    DATASETS.register(_spec.name, summary=summary)(_spec)
