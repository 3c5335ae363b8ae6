"""Your own images: `--dataset arrays --data-dir FILE.npz` and `--dataset folder --data-dir DIR`.

arrays: an .npz file (numpy.savez) with `images` (N, H, W) or (N, C, H, W), C ∈ {1, 3}, uint8 or floats in [0, 1];
optional `labels` (N,) integers; optional `test_images` / `test_labels`. Read with allow_pickle=False.

folder: DIR/CLASS/*.png|jpg|… (one sub-folder per class: the labels), or images directly in DIR (no labels);
DIR/train/ and DIR/test/ in that layout give the test split. Images are centre-cropped to a square and resized to
`data.image_size`; they are grey (1 channel) if the first image is, else RGB.

Labels may be any integers (negative ones too): they are remapped to 0 … C−1 in sorted order, and the values become
the class names. Without a test split, a fixed tenth of the images (seeded) is held out as the test split. Without
labels the images are unlabelled (−1 inside ppl-ssl): evaluation reports what needs none and says what it skipped.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ppl_ssl.errors import DataFileError, DataNotFoundError
from ppl_ssl.progress import reading_bar

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
    if array.ndim in (3, 4) and len(array) == 0:
        raise DataFileError(f"{where} holds no images (shape {array.shape}); store at least one image")
    if array.ndim == 3:
        array = array[:, None]
    if array.ndim != 4 or array.shape[1] not in (1, 3):
        raise DataFileError(f"{where} has shape {array.shape}; expected (N, H, W) or (N, C, H, W) with C = 1 or 3")
    if array.shape[2] == 0 or array.shape[3] == 0:
        raise DataFileError(f"{where} has shape {array.shape}: images of {array.shape[2]}×{array.shape[3]} pixels; "
                            f"each image needs at least one pixel")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if not np.issubdtype(array.dtype, np.floating):
        raise DataFileError(f"{where} has dtype {array.dtype}; expected uint8 pixels or floats in [0, 1]")
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
        raise DataFileError(f"{where} holds floats outside [0, 1] (or NaN); scale them to [0, 1] or store uint8 pixels")
    return np.rint(array * 255).astype(np.uint8)


def _as_labels(array: np.ndarray | None, count: int, where: str) -> np.ndarray | None:
    if array is None:
        return None
    if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        raise DataFileError(f"{where} has shape {array.shape} and dtype {array.dtype}; expected one integer label per image")
    if len(array) != count:
        raise DataFileError(f"{where} holds {len(array)} labels for {count} images")
    return array.astype(np.int64)


def _relabel(train_y: np.ndarray | None, test_y: np.ndarray | None, train_count: int,
             test_count: int) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Labels as 0 … C−1 in sorted order of the given values, whatever integers they are (negative ones included);
    the values become the class names. An array without labels is unlabelled: −1, ppl-ssl's marker, which no given
    value can collide with because every given value is remapped."""
    given = [y for y in (train_y, test_y) if y is not None]
    values = np.unique(np.concatenate(given)) if given else np.zeros(0, dtype=np.int64)
    remap = lambda y, n: np.full(n, -1, dtype=np.int64) if y is None else np.searchsorted(values, y).astype(np.int64)  # noqa: E731
    return remap(train_y, train_count), remap(test_y, test_count), tuple(str(int(v)) for v in values)


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
        held = _held_out(images, labels if labels is not None else np.zeros(len(images), dtype=np.int64))
        train_x, train_y, test_x, test_y = held if labels is not None else (held[0], None, held[2], None)
    train_y, test_y, names = _relabel(train_y, test_y, len(train_x), len(test_x))
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


_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")  # 16-bit grey (PNG, TIFF)
_GREY_MODES = ("1", "L", "LA", "I", "F", *_SIXTEEN_BIT)


def _unreadable(path: Path, err: Exception) -> DataFileError:
    return DataFileError(f"{path} is not a readable image ({type(err).__name__}: {err}); remove it or replace it")


def _grey_levels(img, path: Path):
    """A 16-bit, 32-bit integer or float grey image as 8-bit grey, its range rescaled instead of clipped: 16-bit
    pixels map 0 … 65535 to 0 … 255; floats must lie in [0, 1]."""
    from PIL import Image

    levels = np.asarray(img, dtype=np.float64)
    if img.mode == "F":
        if not np.isfinite(levels).all() or levels.min() < 0 or levels.max() > 1:
            raise DataFileError(f"{path} is a float image with values outside [0, 1]; rescale it or store 8-bit pixels")
        scale = 1.0
    elif levels.min() < 0 or levels.max() > 65535:
        raise DataFileError(f"{path} is a 32-bit integer image with values outside 0 … 65535; store it as 8- or 16-bit")
    else:
        scale = 65535.0  # 16-bit, whether Pillow opened it as I;16 or widened it to I
    return Image.fromarray(np.rint(levels / scale * 255).astype(np.uint8))  # 8-bit grey: mode L


def _as_mode(img, grey: bool, path: Path):
    """The image as 8-bit grey ("L") or RGB: wide grey rescaled, palettes applied, alpha dropped."""
    if img.mode in ("I", "F", *_SIXTEEN_BIT):
        img = _grey_levels(img, path)
    elif img.mode == "P":  # a palette: its colours (through RGBA, so that a transparency entry is read, not warned of)
        img = img.convert("RGBA")
    return img.convert("L" if grey else "RGB")


def _read_image(path: Path, size: int, grey: bool) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = _as_mode(img, grey, path)
            w, h = img.size
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            img = img.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
            array = np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:  # Pillow raises all four for bad bytes
        if isinstance(err, DataFileError):
            raise
        raise _unreadable(path, err) from None
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
    """Whether the data is grey: the first image's mode, or a palette of grey colours only."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(files[0]) as img:
            if img.mode == "P":
                rgb = np.asarray(img.convert("RGB"))
                return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
            return img.mode in _GREY_MODES
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise _unreadable(files[0], err) from None


def folder_shape(path: Path, image_size: int) -> tuple[int, int, int]:
    train, _ = _folder_root(path)
    files, _, _ = _class_layout(train)
    if not files:
        raise DataNotFoundError(f"--data-dir {path} holds no images ({', '.join(IMAGE_SUFFIXES)}), in it or in sub-folders")
    return (1 if _first_is_grey(files) else 3, image_size, image_size)


def read_folder(path: Path, image_size: int) -> UserData:
    train, test = _folder_root(path)
    files, labels, names = _class_layout(train)
    if not files:
        raise DataNotFoundError(f"--data-dir {path} holds no images ({', '.join(IMAGE_SUFFIXES)}), in it or in sub-folders")
    grey = _first_is_grey(files)
    read = lambda fs: np.stack([_read_image(f, image_size, grey) for f in reading_bar(fs, "reading images")])  # noqa: E731
    images, labels = read(files), np.asarray(labels, dtype=np.int64)
    if test is not None:
        test_files, test_labels, test_names = _class_layout(test)
        if not test_files:
            raise DataFileError(f"{test} holds no images ({', '.join(IMAGE_SUFFIXES)}); put the test images there, "
                                f"or remove the empty folder to hold out a tenth of {train}")
        unknown = sorted(set(test_names) - set(names))
        if unknown:
            raise DataFileError(f"{test}: classes {', '.join(unknown)} have no training images in {train}")
        test_labels = [names.index(test_names[label]) if label >= 0 else -1 for label in test_labels]
        return UserData(images, labels, read(test_files), np.asarray(test_labels, dtype=np.int64), tuple(names))
    return UserData(*_held_out(images, labels), tuple(names))
