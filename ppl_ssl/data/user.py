"""Your own images: `--dataset arrays --data-dir FILE.npz` and `--dataset folder --data-dir DIR`.

arrays: an .npz file (numpy.savez) with `images` (N, H, W) or (N, C, H, W), C ∈ {1, 3}, uint8 or floats in [0, 1];
optional `labels` (N,) integers; optional `test_images` / `test_labels`. Read with allow_pickle=False.

folder: DIR/CLASS/*.png|jpg|… (one sub-folder per class: the labels), or images directly in DIR (no labels);
DIR/train/ and DIR/test/ in that layout give the test split. Images are centre-cropped to a square and resized to
`data.image_size`; they are grey (1 channel) if the first image is, else RGB.

Without a test split, a fixed tenth of the images (seeded) is held out as the test split. Without labels the
labels are −1: evaluation reports what needs none and says what it skipped.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ppl_ssl.errors import DataFileError, DataNotFoundError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


@dataclass
class UserData:
    train_x: np.ndarray  # uint8 (N, C, H, W)
    train_y: np.ndarray  # int64, −1 where unlabelled
    test_x: np.ndarray
    test_y: np.ndarray
    class_names: tuple[str, ...]


def _held_out(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, ...]:
    order = np.random.default_rng(0).permutation(len(images))
    cut = max(1, len(images) // 10)
    test, train = np.sort(order[:cut]), np.sort(order[cut:])
    return images[train], labels[train], images[test], labels[test]


def _as_images(array: np.ndarray, where: str) -> np.ndarray:
    if array.ndim == 3:
        array = array[:, None]
    if array.ndim != 4 or array.shape[1] not in (1, 3):
        raise DataFileError(f"{where} has shape {array.shape}; expected (N, H, W) or (N, C, H, W) with C = 1 or 3")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if not np.issubdtype(array.dtype, np.floating):
        raise DataFileError(f"{where} has dtype {array.dtype}; expected uint8 pixels or floats in [0, 1]")
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
        raise DataFileError(f"{where} holds floats outside [0, 1] (or NaN); scale them to [0, 1] or store uint8 pixels")
    return np.rint(array * 255).astype(np.uint8)


def _as_labels(array: np.ndarray | None, count: int, where: str) -> np.ndarray:
    if array is None:
        return np.full(count, -1, dtype=np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise DataFileError(f"{where} has shape {array.shape} and dtype {array.dtype}; expected one integer label per image")
    if len(array) != count:
        raise DataFileError(f"{where} holds {len(array)} labels for {count} images")
    return array.astype(np.int64)


def _relabel(train_y: np.ndarray, test_y: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Labels as 0 … K−1 in sorted order of the given values (which become the class names)."""
    values = np.unique(np.concatenate([train_y, test_y]))
    values = values[values >= 0] if (train_y < 0).any() or (test_y < 0).any() else values
    lookup = {int(v): i for i, v in enumerate(values)}
    remap = lambda y: np.array([lookup.get(int(v), -1) for v in y], dtype=np.int64)  # noqa: E731
    return remap(train_y), remap(test_y), tuple(str(int(v)) for v in values)


def _npz(path: Path):
    if not path.is_file():
        where = "does not exist" if not path.exists() else "is not a file"
        raise DataNotFoundError(f"--data-dir {path} {where}: --dataset arrays needs an .npz file with an 'images' array "
                                f"(numpy.savez(path, images=..., labels=...))")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as err:
        raise DataFileError(f"{path} is not a readable .npz file ({err}); write it with numpy.savez") from None


def arrays_shape(path: Path, image_size: int) -> tuple[int, int, int]:
    """The image shape of an arrays file, read from its header only."""
    with _npz(path) as npz:
        if "images" not in npz.files:
            raise DataFileError(f"{path} has no 'images' array (it holds {', '.join(npz.files) or 'nothing'})")
        with npz.zip.open("images.npy") as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape = np.lib.format.read_array_header_1_0(member)[0]
            elif version == (2, 0):
                shape = np.lib.format.read_array_header_2_0(member)[0]
            else:  # a newer header format: read the array itself
                shape = npz["images"].shape
    return (1, *shape[1:]) if len(shape) == 3 else tuple(shape[1:])


def read_arrays(path: Path, image_size: int) -> UserData:
    with _npz(path) as npz:
        try:
            arrays = {k: npz[k] for k in npz.files}
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
            raise DataFileError(f"{path} is damaged ({type(err).__name__}: {err}); write it again") from None
    if "images" not in arrays:
        raise DataFileError(f"{path} has no 'images' array (it holds {', '.join(arrays) or 'nothing'})")
    images = _as_images(arrays["images"], f"{path}: images")
    labels = _as_labels(arrays.get("labels"), len(images), f"{path}: labels")
    if "test_images" in arrays:
        test_x = _as_images(arrays["test_images"], f"{path}: test_images")
        if test_x.shape[1:] != images.shape[1:]:
            raise DataFileError(f"{path}: test_images have shape {test_x.shape[1:]} per image, images {images.shape[1:]}")
        test_y = _as_labels(arrays.get("test_labels"), len(test_x), f"{path}: test_labels")
        train_x, train_y = images, labels
    else:
        train_x, train_y, test_x, test_y = _held_out(images, labels)
    train_y, test_y, names = _relabel(train_y, test_y)
    return UserData(train_x, train_y, test_x, test_y, names)


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _class_layout(folder: Path) -> tuple[list[Path], list[int], list[str]]:
    """(files, labels, class names): sub-folders are classes; images directly in the folder are unlabelled."""
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and _image_files(p))
    files, labels = [], []
    for label, sub in enumerate(classes):
        found = _image_files(sub)
        files += found
        labels += [label] * len(found)
    loose = _image_files(folder)
    files += loose
    labels += [-1] * len(loose)
    return files, labels, [p.name for p in classes]


def _read_image(path: Path, size: int, grey: bool) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("L" if grey else "RGB")
            w, h = img.size
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            img = img.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
            array = np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise DataFileError(f"{path} is not a readable image ({err}); remove it or replace it") from None
    return array[None] if grey else array.transpose(2, 0, 1).copy()


def _folder_root(path: Path) -> tuple[Path, Path | None]:
    if not path.is_dir():
        where = "does not exist" if not path.exists() else "is not a folder"
        raise DataNotFoundError(f"--data-dir {path} {where}: --dataset folder needs a folder with one sub-folder of "
                                f"images per class (or the images themselves)")
    if (path / "train").is_dir():
        return path / "train", (path / "test") if (path / "test").is_dir() else None
    return path, None


def _first_is_grey(files: list[Path]) -> bool:
    from PIL import Image

    with Image.open(files[0]) as img:
        return img.mode in ("1", "L", "LA", "I", "I;16", "F")


def folder_shape(path: Path, image_size: int) -> tuple[int, int, int]:
    train, _ = _folder_root(path)
    files, _, _ = _class_layout(train)
    if not files:
        raise DataNotFoundError(f"--data-dir {path} holds no images ({', '.join(IMAGE_SUFFIXES)}), in it or in sub-folders")
    return (1 if _first_is_grey(files) else 3, image_size, image_size)


def read_folder(path: Path, image_size: int) -> UserData:
    from tqdm.auto import tqdm

    train, test = _folder_root(path)
    files, labels, names = _class_layout(train)
    if not files:
        raise DataNotFoundError(f"--data-dir {path} holds no images ({', '.join(IMAGE_SUFFIXES)}), in it or in sub-folders")
    grey = _first_is_grey(files)
    read = lambda fs: np.stack([_read_image(f, image_size, grey) for f in tqdm(fs, desc="reading images", leave=False)])  # noqa: E731
    images, labels = read(files), np.asarray(labels, dtype=np.int64)
    if test is not None:
        test_files, test_labels, test_names = _class_layout(test)
        unknown = sorted(set(test_names) - set(names))
        if unknown:
            raise DataFileError(f"{test}: classes {', '.join(unknown)} have no training images in {train}")
        test_labels = [names.index(test_names[label]) if label >= 0 else -1 for label in test_labels]
        return UserData(images, labels, read(test_files), np.asarray(test_labels, dtype=np.int64), tuple(names))
    return UserData(*_held_out(images, labels), tuple(names))
