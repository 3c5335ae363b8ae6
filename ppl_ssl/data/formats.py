"""Readers for the on-disk formats the datasets ship in: IDX (MNIST family), CIFAR python pickles, CelebA."""
from __future__ import annotations

import gzip
import pickle
import zlib
from pathlib import Path

import numpy as np

from ppl_ssl.errors import DataFileError

# IDX type codes (http://yann.lecun.com/exdb/mnist/): only unsigned bytes occur in the MNIST family.
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzip-compressed) as an array of its declared shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise DataFileError(f"{path} is truncated or not valid gzip ({err}); download it again") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataFileError(f"{path} is not an IDX file (bad magic number {data[:4].hex()}); download it again")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - offset != expected:
        raise DataFileError(f"{path}: header declares shape {shape} ({expected} bytes) but holds {len(data) - offset} "
                            f"(truncated or corrupt); download it again")
    return np.frombuffer(data, dtype=dtype, offset=offset).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write an uint8 array as an IDX file (gzip-compressed if the name ends in .gz); used by tests and tools."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


def find_idx(folder: Path, stem: str) -> Path | None:
    """The file for e.g. stem 'train-images-idx3-ubyte' under the names it is distributed with."""
    dotted = stem.replace("-idx", ".idx")
    for name in (stem + ".gz", stem, dotted + ".gz", dotted):
        if (folder / name).is_file():
            return folder / name
    return None


class _CifarUnpickler(pickle.Unpickler):
    """Admits only what the official CIFAR-10 python batches contain: a dict of bytes, lists and one numpy array.
    Anything else (a function call smuggled into the file) is refused before it can run."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise DataFileError(f"{self.path}: refusing to unpickle {module}.{name}; CIFAR-10 batches hold only numpy "
                                f"arrays, lists and bytes; use the files of the official archive")
        return super().find_class(module, name)


def read_cifar_batches(folder: Path, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 python batches -> uint8 images (N, 3, 32, 32) and int64 labels, read with a restricted unpickler."""
    images, labels = [], []
    for name in names:
        path = folder / name
        try:
            with open(path, "rb") as f:
                unpickler = _CifarUnpickler(f, encoding="bytes")
                unpickler.path = path
                batch = unpickler.load()
        except (EOFError, pickle.UnpicklingError, ValueError, TypeError) as err:
            if isinstance(err, DataFileError):
                raise
            raise DataFileError(f"{path} is truncated or not a CIFAR-10 batch ({type(err).__name__}: {err}); "
                                f"download it again") from None
        if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
            raise DataFileError(f"{path} is not a CIFAR-10 batch (no b'data' and b'labels' entries)")
        data, batch_labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"], dtype=np.int64)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.dtype != np.uint8:
            raise DataFileError(f"{path}: data has shape {data.shape} and dtype {data.dtype}; CIFAR-10 batches hold "
                                f"uint8 rows of 3072 values")
        if len(batch_labels) != len(data):
            raise DataFileError(f"{path}: {len(data)} images but {len(batch_labels)} labels")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(batch_labels)
    return np.concatenate(images), np.concatenate(labels)


def write_cifar_batch(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write images (N, 3, 32, 32) uint8 in the CIFAR-10 python batch format (for tests and tools)."""
    with open(path, "wb") as f:
        pickle.dump({b"data": images.reshape(len(images), -1), b"labels": [int(v) for v in labels]}, f)


CELEBA_HAIR = ("Bald", "Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")
CELEBA_GENDER = ("female", "male")


def read_celeba_attributes(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """list_attr_celeba.txt -> (file names, attribute names, {-1, 1} matrix); a malformed file is one line naming
    the line."""
    lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
    if len(lines) < 2:
        raise DataFileError(f"{path} has {len(lines)} line(s); expected a count, the attribute names, then one line per "
                            f"image; download it again")
    names = lines[1].split()
    files, rows = [], []
    for number, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        try:
            values = [int(v) for v in parts[1:]]
        except ValueError:
            values = []
        if len(values) != len(names) or not set(values) <= {-1, 1}:
            raise DataFileError(f"{path}: line {number} is not a file name and {len(names)} values of -1 or 1; "
                                f"download it again")
        files.append(parts[0])
        rows.append(values)
    return files, names, np.asarray(rows, dtype=np.int8).reshape(len(files), len(names))


def read_celeba_partition(path: Path) -> dict[str, str]:
    """list_eval_partition.txt -> {file name: '0' (train), '1' (validation) or '2' (test)}."""
    part = {}
    for number, line in enumerate(path.read_bytes().decode("utf-8", errors="replace").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise DataFileError(f"{path}: line {number} is not a file name and a split 0, 1 or 2; download it again")
        part[fields[0]] = fields[1]
    return part


def celeba_hair_labels(attribute_names: list[str], attributes: np.ndarray) -> np.ndarray:
    """The paper's 5-class hair colour; -1 where none or several hair attributes are set (dropped at evaluation)."""
    columns = [attribute_names.index(a) for a in CELEBA_HAIR]
    hair = attributes[:, columns] > 0
    return np.where(hair.sum(1) == 1, hair.argmax(1), -1).astype(np.int64)


def celeba_gender_labels(attribute_names: list[str], attributes: np.ndarray) -> np.ndarray:
    """The SimVAE paper's CelebA content label (its Tables 1, 5, 6): gender, from the `Male` attribute (female 0, male 1)."""
    return (attributes[:, attribute_names.index("Male")] > 0).astype(np.int64)


def read_celeba_image(path: Path, size: int = 64, crop: int = 148) -> np.ndarray:
    """One aligned CelebA image, centre-cropped to `crop` px and resized to `size` px: uint8 (3, size, size)."""
    from PIL import Image

    from PIL import UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            w, h = img.size
            c = min(crop, w, h)
            left, top = (w - c) // 2, (h - c) // 2
            img = img.crop((left, top, left + c, top + c)).resize((size, size), Image.BILINEAR)
            return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy()
    except FileNotFoundError:
        raise DataFileError(f"{path} is listed in list_attr_celeba.txt but missing; download img_align_celeba "
                            f"again") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise DataFileError(f"{path} is not a readable image ({type(err).__name__}: {err}); download it again") from None
