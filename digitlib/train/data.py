"""Loading MNIST: from a local directory, or Keras' checksummed download.

Every file is verified against the canonical SHA-256 before it is parsed, so a
report can never be built on a corrupt or substituted dataset. Problems are
raised as :class:`DataError` with one sentence that names the file and says
what to do.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..layout import IDX_FILES

DATA_DIR_ENV = "DIGITLIB_DATA_DIR"

# Keras' single-file copy, as keras.datasets.mnist downloads and verifies it.
KERAS_NPZ = "mnist.npz"
KERAS_NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
KERAS_NPZ_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"

# IDX magic numbers: 0x00000801 for a 1-D uint8 array (labels), 0x00000803 for 3-D (images).
_IDX_MAGIC = {1: 0x00000801, 3: 0x00000803}


class DataError(RuntimeError):
    """The dataset is missing, corrupt or unreadable; the message says what to do."""


@dataclass(frozen=True)
class MNIST:
    """The four MNIST arrays (uint8) and where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    sha256: dict[str, str] = field(default_factory=dict)

    def __iter__(self):
        """Unpack as ``x_train, y_train, x_test, y_test = load_mnist()``."""
        return iter((self.x_train, self.y_train, self.x_test, self.y_test))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str) -> str:
    """Return the file's SHA-256, or raise DataError when it is not `expected`."""
    actual = sha256_of(path)
    if actual != expected:
        raise DataError(
            f"{path}: SHA-256 mismatch (expected {expected}, got {actual}); the file is "
            "corrupt or not the canonical MNIST file, so delete it and download it again."
        )
    return actual


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Parse a gzip-compressed IDX file holding a uint8 array of `ndim` dimensions."""
    path = Path(path)
    try:
        with gzip.open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found.") from None
    except (EOFError, OSError, zlib.error) as error:
        raise DataError(
            f"{path}: not a readable gzip file ({error}); it is truncated or corrupt, "
            "so delete it and download it again."
        ) from None
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise DataError(f"{path}: too short to be an IDX file ({len(raw)} bytes).")
    magic = int.from_bytes(raw[:4], "big")
    if magic != _IDX_MAGIC[ndim]:
        raise DataError(
            f"{path}: wrong IDX magic number 0x{magic:08x} (expected 0x{_IDX_MAGIC[ndim]:08x} "
            f"for a {ndim}-D uint8 array); is it the right file?"
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(raw) - header_size != expected:
        raise DataError(
            f"{path}: header announces shape {shape} ({expected} bytes) but the file holds "
            f"{len(raw) - header_size}; it is truncated or corrupt."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def read_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read matching image and label IDX files, checking that their counts agree."""
    images, labels = read_idx(images_path, 3), read_idx(labels_path, 1)
    if images.shape[1:] != (28, 28):
        raise DataError(f"{images_path}: images are {images.shape[1:]}, expected 28x28.")
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels; the two files do not belong together."
        )
    return images, labels


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read Keras' mnist.npz (x_train, y_train, x_test, y_test)."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return tuple(arrays[key] for key in ("x_train", "y_train", "x_test", "y_test"))
    except (OSError, ValueError, KeyError, zlib.error) as error:
        raise DataError(f"{path}: not a readable MNIST .npz file ({error}).") from None


def _load_directory(directory: Path) -> MNIST:
    """Load from the four IDX files, or else from mnist.npz, in `directory`."""
    if not directory.is_dir():
        raise DataError(
            f"{directory}: no such directory; point data_dir or {DATA_DIR_ENV} at the folder "
            f"holding the four MNIST files ({', '.join(IDX_FILES)})."
        )
    present = [name for name in IDX_FILES if (directory / name).is_file()]
    if not present and (directory / KERAS_NPZ).is_file():
        path = directory / KERAS_NPZ
        digest = verify_sha256(path, KERAS_NPZ_SHA256)
        return MNIST(*read_npz(path), source=str(path), sha256={KERAS_NPZ: digest})
    missing = [name for name in IDX_FILES if name not in present]
    if missing:
        raise DataError(
            f"{directory}: missing {', '.join(missing)}; copy the four canonical MNIST files "
            f"({', '.join(IDX_FILES)}) or Keras' {KERAS_NPZ} there."
        )
    digests = {name: verify_sha256(directory / name, sha) for name, sha in IDX_FILES.items()}
    x_train, y_train = read_idx_pair(directory / "train-images-idx3-ubyte.gz", directory / "train-labels-idx1-ubyte.gz")
    x_test, y_test = read_idx_pair(directory / "t10k-images-idx3-ubyte.gz", directory / "t10k-labels-idx1-ubyte.gz")
    return MNIST(x_train, y_train, x_test, y_test, source=str(directory), sha256=digests)


def _download() -> MNIST:
    """Keras' own download into its cache (~/.keras/datasets), verified by SHA-256."""
    from keras.utils import get_file  # imported here: loading local files needs no Keras

    try:
        path = Path(get_file(fname=KERAS_NPZ, origin=KERAS_NPZ_URL, file_hash=KERAS_NPZ_SHA256))
    except Exception as error:  # noqa: BLE001 - get_file raises many kinds; all mean "no data"
        raise DataError(
            f"MNIST is not available locally and downloading {KERAS_NPZ_URL} failed "
            f"({type(error).__name__}: {error}); either connect to the internet, or copy the four "
            f"MNIST files ({', '.join(IDX_FILES)}) into a directory and set {DATA_DIR_ENV} to it "
            "(or pass data_dir)."
        ) from None
    digest = verify_sha256(path, KERAS_NPZ_SHA256)
    return MNIST(*read_npz(path), source=str(path), sha256={KERAS_NPZ: digest})


def load_mnist(data_dir: str | os.PathLike | None = None) -> MNIST:
    """Load MNIST as uint8 arrays: (60000, 28, 28), (60000,), (10000, 28, 28), (10000,).

    Looks in `data_dir`, else in ``$DIGITLIB_DATA_DIR``, else downloads Keras' copy.
    A directory may hold the four canonical ``*-idx?-ubyte.gz`` files or Keras'
    ``mnist.npz``. Every file's SHA-256 is checked; problems raise :class:`DataError`.
    """
    directory = data_dir if data_dir not in (None, "") else os.environ.get(DATA_DIR_ENV) or None
    data = _load_directory(Path(directory).expanduser()) if directory else _download()
    _check_shapes(data)
    return data


def _check_shapes(data: MNIST) -> None:
    expected = {"x_train": (60000, 28, 28), "y_train": (60000,), "x_test": (10000, 28, 28), "y_test": (10000,)}
    for name, shape in expected.items():
        array = getattr(data, name)
        if array.shape != shape or array.dtype != np.uint8:
            raise DataError(
                f"{data.source}: {name} has shape {array.shape} and dtype {array.dtype}, "
                f"expected {shape} uint8; this is not the MNIST dataset."
            )
